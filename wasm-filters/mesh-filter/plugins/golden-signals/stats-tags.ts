/**
 * @module
 * The golden-signals metric naming contract. proxy-wasm metrics carry no
 * labels, so the filter encodes them in the name
 * (`golden.rt.<route>.md.<model>.vs.<version>.vr.<variant>.rq.sc.<2xx>` and
 * `....latency_ms`), and these `stats_config.stats_tags` turn them back into
 * Prometheus labels at Envoy's /stats/prometheus. Envoy names metrics a Wasm
 * module defines `wasmcustom.<name>` in /stats and `<name>` (dots as
 * underscores, no `envoy_` prefix) in /stats/prometheus: `golden_rq{route,
 * model, version, variant, status_class}` and `golden_latency_ms{...}`. The
 * bootstrap that runs the filter must carry these tags (mesh-config renders
 * them from here).
 */

const P = '^wasmcustom\\.golden\\.'
const LABEL = '[^.]+'

export const GOLDEN_STATS_TAGS = [
  { tag_name: 'route', regex: `${P}(rt\\.(${LABEL})\\.)` },
  { tag_name: 'model', regex: `${P}rt\\.${LABEL}\\.(md\\.(${LABEL})\\.)` },
  { tag_name: 'version', regex: `${P}rt\\.${LABEL}\\.md\\.${LABEL}\\.(vs\\.(${LABEL})\\.)` },
  { tag_name: 'variant', regex: `${P}rt\\.${LABEL}\\.md\\.${LABEL}\\.vs\\.${LABEL}\\.(vr\\.(${LABEL})\\.)` },
  { tag_name: 'status_class', regex: `${P}.*(\\.sc\\.([1-5]xx|none))$` },
] as const
