/* config_compare.c - typed comparisons of config sections for the reload plan (config.h).
 * Every field a subsystem is built from is compared here, so adding a key to a section means
 * adding it to that section's comparison too (test-reload checks each field it knows). */
#include "config.h"

#include <string.h>

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

#define EQ(f)	  (a->f == b->f)
#define STR_EQ(f) str_eq(a->f, b->f)

static bool tls_equal(const struct oeed_tls_conf *a, const struct oeed_tls_conf *b)
{
	return STR_EQ(ca_file) && STR_EQ(cert_file) && STR_EQ(key_file) && EQ(verify);
}

static bool mqtt_conf_equal(const struct oeed_mqtt_conf *a, const struct oeed_mqtt_conf *b)
{
	return STR_EQ(url) && STR_EQ(client_id) && STR_EQ(username) && STR_EQ(password_file) &&
	       EQ(clean_session) && EQ(protocol) && EQ(session_expiry_ms) && EQ(keepalive_ms) &&
	       EQ(reconnect_min_ms) && EQ(reconnect_max_ms) && EQ(has_tls) &&
	       (!a->has_tls || tls_equal(&a->tls, &b->tls)) && STR_EQ(status_topic) &&
	       EQ(queue_len) && EQ(queue_bytes);
	/* qos only sets the subscriptions (the pipeline's), sparkplug_rebirth the decoders' host */
}

static bool record_equal(const struct oeed_record_conf *a, const struct oeed_record_conf *b)
{
	return EQ(enabled) && EQ(file_max) && EQ(total_max);
}

bool config_mqtt_equal(const struct oeed_config *a, const struct oeed_config *b)
{
	/* the recording is written by paho's callback thread, so it goes with the client */
	return mqtt_conf_equal(&a->mqtt, &b->mqtt) && record_equal(&a->record, &b->record) &&
	       STR_EQ(state_dir);
}

static bool output_equal(const struct oeed_output_conf *a, const struct oeed_output_conf *b)
{
	return EQ(type) && STR_EQ(name) && STR_EQ(url) && EQ(api) && STR_EQ(database) &&
	       STR_EQ(retention_policy) && STR_EQ(username) && STR_EQ(password_file) &&
	       STR_EQ(org) && STR_EQ(bucket) && STR_EQ(token_file) && STR_EQ(precision) &&
	       EQ(batch_lines) && EQ(flush_interval_ms) && EQ(spool_max) && EQ(gzip) &&
	       EQ(create_database) && EQ(timeout_ms) && EQ(connect_timeout_ms) && STR_EQ(ca_file) &&
	       EQ(verify) && STR_EQ(path);
}

bool config_outputs_equal(const struct oeed_config *a, const struct oeed_config *b)
{
	if (!EQ(n_outputs) || !STR_EQ(state_dir)) /* the spools live under state_dir */
		return false;
	for (size_t i = 0; i < a->n_outputs; i++)
		if (!output_equal(&a->outputs[i], &b->outputs[i]))
			return false;
	return true;
}

static bool source_equal(const struct oeed_source *a, const struct oeed_source *b)
{
	if (!STR_EQ(topic) || !STR_EQ(decoder) || !EQ(signal) || !EQ(n_map) || !EQ(map_numbers) ||
	    !EQ(counts) || !EQ(cycle_counts) || !EQ(qos) || !EQ(max_lateness_ms))
		return false;
	for (size_t i = 0; i < a->n_map; i++)
		if (!str_eq(a->map[i].raw, b->map[i].raw) ||
		    a->map[i].category != b->map[i].category ||
		    !str_eq(a->map[i].reason, b->map[i].reason))
			return false;
	for (size_t s = 0; s < SIG__COUNT; s++)
		if (!str_eq(a->fields[s], b->fields[s]))
			return false;
	return true;
}

static bool machine_equal(const struct oeed_machine_conf *a, const struct oeed_machine_conf *b)
{
	return STR_EQ(id) && EQ(ideal_cycle_ms) && EQ(stale_after_ms) && EQ(microstop_below_ms) &&
	       EQ(max_lateness_ms);
}

static bool machines_equal(const struct oeed_machines *a, const struct oeed_machines *b)
{
	if (!machine_equal(&a->defaults, &b->defaults) || !EQ(max) || !EQ(n_list))
		return false;
	for (size_t i = 0; i < a->n_list; i++)
		if (!machine_equal(&a->list[i], &b->list[i]))
			return false;
	return true;
}

static bool report_equal(const struct oeed_report *a, const struct oeed_report *b)
{
	if (!EQ(interval_ms) || !EQ(n_windows) || !STR_EQ(timezone) || !EQ(n_shifts) ||
	    !EQ(window_buckets))
		return false;
	for (size_t i = 0; i < a->n_windows; i++)
		if (!EQ(windows_ms[i]))
			return false;
	for (size_t p = 0; p < PERIOD__COUNT; p++)
		if (!EQ(periods[p]))
			return false;
	for (size_t i = 0; i < a->n_shifts; i++)
		if (!str_eq(a->shifts[i].name, b->shifts[i].name) ||
		    a->shifts[i].start_min != b->shifts[i].start_min)
			return false;
	return true;
}

static bool contract_equal(const struct oeed_contract *a, const struct oeed_contract *b)
{
	if (!STR_EQ(name) || !EQ(n_machines) || !EQ(kpi) || !EQ(rolling) || !EQ(period) ||
	    !EQ(rolling_ms) || !EQ(target) || !EQ(minimum) || !EQ(higher_is_better) ||
	    !EQ(unknown) || !EQ(n_planned_reasons))
		return false;
	for (size_t i = 0; i < a->n_machines; i++)
		if (!str_eq(a->machines[i], b->machines[i]))
			return false;
	for (size_t i = 0; i < a->n_planned_reasons; i++)
		if (!str_eq(a->planned_reasons[i], b->planned_reasons[i]))
			return false;
	return true;
}

bool config_pipeline_equal(const struct oeed_config *a, const struct oeed_config *b)
{
	if (!STR_EQ(site) || !EQ(max_clock_skew_ms) || !EQ(mqtt.sparkplug_rebirth) ||
	    !EQ(mqtt.qos) || !EQ(n_sources) || !EQ(n_contracts) ||
	    !machines_equal(&a->machines, &b->machines) || !report_equal(&a->report, &b->report))
		return false;
	for (size_t i = 0; i < a->n_sources; i++)
		if (!source_equal(&a->sources[i], &b->sources[i]))
			return false;
	for (size_t i = 0; i < a->n_contracts; i++)
		if (!contract_equal(&a->contracts[i], &b->contracts[i]))
			return false;
	return true;
}
