/**
 * @module
 * The Wasm filters' front door for the other components: where the built
 * modules lie, the mesh filter's configuration types and the stats tags its
 * golden-signals plugin needs from Envoy. The AssemblyScript sources are
 * compiled by build.ts (`npm run build:filters`), which nothing outside
 * imports; the entry reads paths from modules.ts alone.
 */
export { MESH_FILTER, meshFilterWasm } from './mesh-filter/config.ts'
export type { CanaryRouteConfig, MeshFilterConfig, SampleRouteConfig } from './mesh-filter/config.ts'
export { GOLDEN_STATS_TAGS } from './mesh-filter/plugins/golden-signals/stats-tags.ts'
export { wasmPath } from './modules.ts'
