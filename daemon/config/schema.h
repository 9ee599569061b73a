/* schema.h - the config schema engine (internal to daemon/config). A section of oeed.yaml is a
 * table of rows {key, type, where it is stored, default, bounds, variants, reload scope, doc};
 * one generic walker reads a YAML mapping into a struct by those rows (types, bounds,
 * defaults, unknown and misplaced keys, required keys), prints the struct back as YAML,
 * compares two structs for the reload plan and writes the key tables of the docs. The
 * sections themselves (and the few checks that span keys) are in config.c. Defaults are
 * written as YAML text and read by the same code as the file, so what the docs show, what
 * --check-config prints and what runs are one value. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <yaml.h>

#include "config.h"

/* ---- the loader: where it is, and how it reports ---- */

/* One mapping that contributes to a section: the main file's, or one of conf.d's. */
struct schema_src {
	yaml_document_t *doc;
	const char *file;
	yaml_node_t *node; /* a mapping (or, for sections with a scalar form, a scalar) */
};

struct loader {
	const char *name;	 /* the file of the node being read */
	yaml_document_t *doc;	 /* ... and its document */
	struct oeed_config *cfg; /* where key positions are recorded */
	struct oeed_error *err;
	char path[256]; /* key path of the node being read: "sources[1].map.FAULT" */
	size_t plen;
	size_t n_list_base; /* index of the first item of the current source in an appended list */
};

size_t path_key(struct loader *ld, const char *key);
size_t path_index(struct loader *ld, size_t i);
void path_pop(struct loader *ld, size_t old);
int vfail(struct loader *ld, const yaml_node_t *n, const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int fail(struct loader *ld, const yaml_node_t *n,
					       const char *fmt, ...);
/* Fails at the value of `key` in mapping m (at m when absent; m may be NULL) naming the key. */
__attribute__((format(printf, 4, 5))) int fail_key(struct loader *ld, const yaml_node_t *m,
						   const char *key, const char *fmt, ...);
int oom(struct loader *ld);
int fail_type(struct loader *ld, const yaml_node_t *n, const char *want);
yaml_node_t *node_at(const struct loader *ld, int index);
const char *sval(const yaml_node_t *n);
bool is_null(const yaml_node_t *n);
/* The value of `key` in mapping m (NULL when m is NULL, not a mapping, key absent or null). */
yaml_node_t *find_key(const struct loader *ld, const yaml_node_t *m, const char *key);
int check_mapping(struct loader *ld, const yaml_node_t *m);
int expect_list(struct loader *ld, const yaml_node_t *n);
size_t list_len(const yaml_node_t *n);
yaml_node_t *list_item(const struct loader *ld, const yaml_node_t *n, size_t i);
void join_names(const char *const *names, size_t n, char *buf, size_t len);
int get_str(struct loader *ld, const yaml_node_t *n, char **dst);
int get_dur(struct loader *ld, const yaml_node_t *n, oeed_ms min, oeed_ms max, oeed_ms *dst);
int get_choice_name(struct loader *ld, const yaml_node_t *n, const char *const *names,
		    size_t n_names, int *dst);
void record_pos(struct loader *ld, const yaml_node_t *v);
/* YAML text for values */
void schema_put_str(FILE *out, const char *s, bool flow);
void schema_put_num(FILE *out, double v);

/* ---- rows ---- */

enum schema_type {
	ST_STR,	   /* char *; NULL when unset */
	ST_PATH,   /* char *: a file the daemon opens (pre-flight reads it) */
	ST_SECRET, /* char *: a file holding a secret, or credential:NAME */
	ST_BOOL,   /* bool */
	ST_INT,	   /* int */
	ST_COUNT,  /* size_t */
	ST_NUM,	   /* double */
	ST_DUR,	   /* oeed_ms */
	ST_SIZE,   /* uint64_t bytes */
	ST_CHOICE, /* int, one of `choices` */
	ST_MAP,	   /* a nested section, stored inline at `off` */
	ST_LIST,   /* a list of sections: T * at `off`, size_t count at `count_off` */
	ST_CUSTOM, /* read, printed and compared by `custom` */
};

/* A choice value; several names may share a value (aliases), the first one is printed. */
struct schema_choice {
	const char *name;
	int value;
};

/* What a change of the key rebuilds on reload (config.h's config_*_equal). */
enum schema_scope {
	SCOPE_NONE = 0, /* read where it is used, from the current config */
	SCOPE_PIPELINE = 1,
	SCOPE_MQTT = 2,
	SCOPE_OUTPUTS = 4,
};

struct schema_section;
struct schema_key;

struct schema_custom {
	/* reads node n (not null) into the field at `field` */
	int (*read)(struct loader *ld, const struct schema_key *k, const yaml_node_t *n,
		    void *field, void *obj);
	/* prints "key: value" lines, the first starting with `pre`, nested ones under `indent`;
	 * returns false when there is nothing to print */
	bool (*print)(FILE *out, const struct schema_key *k, const void *field, const void *obj,
		      const char *pre, const char *indent);
	bool (*equal)(const void *a, const void *b);
	void (*free)(void *field);
};

enum schema_flags {
	SF_DISCRIMINATOR = 1, /* read before the others: it selects the variant */
	SF_APPEND = 2,	      /* in conf.d: lists append, mappings merge; else set once */
	SF_NO_PRINT = 4,      /* not printed (include: the files are listed instead) */
	SF_OMIT_UNSET = 8,    /* numbers: not printed when equal to `unset` */
	SF_SAY_VARIANT = 16,  /* "missing key 'X' (needed by api v1)" */
};

struct schema_key {
	const char *key;
	enum schema_type type;
	size_t off;
	const char *def;     /* default as YAML text; NULL: none, or computed (see doc_def) */
	const char *doc_def; /* the default as the docs write it, when not `def` */
	double min, max;     /* bounds of INT, COUNT, NUM (as given), DUR (ms), SIZE (bytes) */
	unsigned variants;   /* the variants the key applies to, 0: all */
	unsigned required;   /* the variants it is required in */
	unsigned scope;	     /* enum schema_scope */
	unsigned flags;	     /* enum schema_flags */
	double unset;	     /* SF_OMIT_UNSET: the value that means "not set" */
	const struct schema_choice *choices;	/* ST_CHOICE, ended by a NULL name */
	const struct schema_section *sub;	/* ST_MAP, ST_LIST */
	size_t count_off, elem_size, max_items; /* ST_LIST */
	const struct schema_custom *custom;	/* ST_CUSTOM */
	const char *doc_type;			/* the type as the docs write it, NULL: derived */
	const char *doc;
};

struct schema_section {
	const char *name; /* for the docs: "mqtt", "outputs[]" */
	const struct schema_key *keys;
	size_t n_keys;
	const char *const *variant_names; /* index = bit: "influxdb api v1", ... */
	/* the variant (a bit) from the discriminators already read; NULL: one variant */
	unsigned (*variant)(const void *obj);
	/* the name of the variant in "does not apply to ..." */
	const char *(*variant_label)(const void *obj, unsigned key_variants);
	/* before defaults and keys: `parent` is the enclosing struct (list items: the struct
	 * holding the list) */
	void (*init)(void *obj, const void *parent);
	bool skip_defaults; /* init sets every value (machines.list items start from defaults) */
	/* a scalar given instead of a mapping (record: true) */
	int (*scalar)(struct loader *ld, const yaml_node_t *n, void *obj);
	/* after the keys: cross-key checks and computed defaults. m: the mapping (NULL when
	 * the section is absent). Runs once per source in conf.d merges, with the last. */
	int (*check)(struct loader *ld, const yaml_node_t *m, void *obj, const void *parent);
	/* ST_LIST: after all items are read (duplicates, default names) */
	int (*check_list)(struct loader *ld, void *items, size_t n, const void *parent);
};

/* Reads a section from one or more sources (conf.d) into obj, defaults first. */
int schema_read(struct loader *ld, const struct schema_section *sec, const struct schema_src *srcs,
		size_t n_srcs, void *obj, const void *parent);
/* Applies the defaults of sec (and of its nested mappings) to obj. */
int schema_defaults(struct loader *ld, const struct schema_section *sec, void *obj,
		    const void *parent);
void schema_print(FILE *out, const struct schema_section *sec, const void *obj, const char *indent);
/* Equal in every key whose scope intersects `scope` (nested sections and lists followed). */
bool schema_equal(const struct schema_section *sec, const void *a, const void *b, unsigned scope);
void schema_free(const struct schema_section *sec, void *obj);
/* The key tables of sec and its nested sections, each between marker comments naming it
 * ("keys: mqtt.tls"): markdown for docs/config.md, or man(7) for oeed.yaml(5). */
void schema_doc(FILE *out, const struct schema_section *sec, const char *prefix, bool man);
/* Calls fn for every ST_PATH / ST_SECRET value set in obj, with its key path. */
void schema_files(const struct schema_section *sec, const void *obj, const char *prefix,
		  void (*fn)(void *ctx, const char *key, const char *path, bool secret), void *ctx);
