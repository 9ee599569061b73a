/* liveview.h - the daemon's live view of the engine, for `oeed status` and the mqtt output:
 * every machine's current state (asked of the engine when rendered: engine.h's read-only
 * queries), the KPI records of the last report tick per window and period, and each
 * contract's last record, kept from the engine's sink (pipeline_opts.observer) so they are
 * exactly what the line protocol of that tick says. Rendered as JSON (numbers written as the
 * line protocol writes them).
 *
 * Memory: machines.max x (windows + periods) KPI records, sized at liveview_new(). Dirty
 * marks say which machines changed (a state change, a report tick) since the last
 * liveview_take_dirty(). Main thread only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "config.h"
#include "engine.h"
#include "util.h"

struct liveview;

/* cfg must outlive the view. */
int liveview_new(const struct oeed_config *cfg, struct liveview **ret);
void liveview_free(struct liveview *v);
/* The sink to hand to the pipeline as its observer (valid as long as the view). */
const struct engine_sink *liveview_sink(struct liveview *v);
/* The engine the sink is fed by (before anything is fed). */
void liveview_attach(struct liveview *v, const struct engine *e);
/* The time of the last report tick (OEED_MS_NONE before the first). */
oeed_ms liveview_tick(const struct liveview *v);
/* Called after each report tick's records: marks every machine dirty. */
void liveview_ticked(struct liveview *v, oeed_ms tick);

/* One machine as a JSON object: machine, tags, category, state, reason, since, last_seen,
 * kpi {label: {window_start, window_end, final, fields...}}, contracts [{contract, status}].
 * Returns -ENOENT for an index not in use. */
int liveview_machine_json(const struct liveview *v, size_t i, struct strbuf *out);
/* "[...]": every machine, sorted by id. */
void liveview_machines_json(struct liveview *v, struct strbuf *out);
/* "[...]": every contract with its last record. */
void liveview_contracts_json(const struct liveview *v, struct strbuf *out);
/* Calls fn for every machine marked dirty since the last call (in index order) and clears
 * the marks. */
void liveview_take_dirty(struct liveview *v, void (*fn)(void *ctx, size_t i, const char *id),
			 void *ctx);

/* A JSON string literal of s (escaped; invalid UTF-8 becomes U+FFFD). */
void json_put_str(struct strbuf *out, const char *s);
