/* topic.h - topic templates: "factory/{line}/{machine}/state" -> an MQTT subscription
 * ("factory/+/+/state") and a matcher that extracts the machine id and the other variables as
 * tags. `+` and a trailing `#` may also be written literally in a template. Variables are whole
 * levels. A template must have {machine}, except one starting with "spBv1.0/" (Sparkplug B:
 * the decoder names the machine from the node/device, so m->machine stays NULL). A topic whose
 * {machine} level is empty does not match (a machine needs a name). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "config.h"

#define TOPIC_MAX_LEVELS 32

struct topic_template {
	char *subscription; /* MQTT filter, e.g. "factory/+/+/state" */
	size_t n_levels;
	struct {
		char *literal; /* NULL for a variable or wildcard */
		char *var;     /* variable name without braces, NULL otherwise */
		bool plus;     /* literal '+' */
		bool hash;     /* '#' (last level only) */
	} level[TOPIC_MAX_LEVELS];
	int machine_level; /* index of {machine}, -1 if absent */
	size_t n_vars;	   /* variables other than {machine} */
};

struct topic_match {
	const char *machine; /* points into the topic, not terminated */
	size_t machine_len;
	size_t n_tags;
	struct {
		const char *key;   /* the template's variable name (terminated) */
		const char *value; /* points into the topic */
		size_t value_len;
	} tag[OEED_MAX_TEMPLATE_VARS];
};

/* Parses a template. Returns 0, or -EINVAL with a message in err ("unbalanced '{' at column
 * 9", "no {machine} variable", "'#' must be the last level", ...). */
int topic_template_parse(const char *tmpl, struct topic_template *ret, char *err, size_t errlen);
void topic_template_free(struct topic_template *t);
/* True when `topic` matches; fills *m (pointers into topic). */
bool topic_template_match(const struct topic_template *t, const char *topic, size_t len,
			  struct topic_match *m);
