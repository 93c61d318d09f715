/**
 * @module
 * mesh-config's front door: mesh.yaml's schema and loading, the edits the
 * operators and the canary walks make and how they are applied, the state
 * folder (history, atomic writes), credentials and NATS users, the rendered
 * Envoy resources and their builders, alert rules, and the local mesh
 * (`npm start`: Envoy's and nats-server's settings). The
 * `mesh` CLI is `@model-mesh/mesh-config/cli`.
 */
export { agentSettingsOf, writeAgentSettings } from './src/agent-settings.ts'
export { alertRules, alertRulesText } from './src/alert-rules.ts'
export { credentialFiles, TELEMETRY_TOKEN_ENV } from './src/credentials.ts'
export { applyMeshText } from './src/edit-apply.ts'
export type { ChangeOutcome } from './src/edit-apply.ts'
export { EditError, parseWeight, promoteCanary, rollbackCanary, setCanaryWeight } from './src/edit.ts'
export { hcmListener, staticCluster, typed, wasmHttpFilter, wasmService } from './src/envoy-resources.ts'
export { loadMeshFile, MeshConfigError, meshFileReader, parseMesh, requireMesh, telemetryPaths } from './src/load.ts'
export type { LoadedMesh, LoadResult, TelemetryPaths } from './src/load.ts'
export { ENVOY_BIN, ROOT, startLocalMesh } from './src/local-mesh.ts'
export type { LocalMesh, StartOptions } from './src/local-mesh.ts'
export { natsCredential, natsFiles, NATS_ROLES, prepareNatsAuth } from './src/nats-auth.ts'
export type { NatsCredential, NatsRole } from './src/nats-auth.ts'
export { natsClusterOf, natsReady, natsServerArgs } from './src/nats-server.ts'
export { meshHistory, runningNodeMesh } from './src/node-config.ts'
export type { NodeMeshRecord, NodeOutcome } from './src/node-config.ts'
export { collectorShares, startNodeMesh } from './src/node-mesh.ts'
export type { NodeMesh, NodeMeshOptions, RunningNode } from './src/node-mesh.ts'
export type { NatsServerSettings } from './src/nats-server.ts'
export {
  createNodeNetwork,
  inNode,
  nodeNetwork,
  nodeNetworkLeftovers,
  removeNodeNetwork,
  setNodeLink,
} from './src/node-network.ts'
export type { NetworkNode, NodeNetwork } from './src/node-network.ts'
export { prometheusConfig, PROMETHEUS_JOBS } from './src/prometheus-config.ts'
export { redactIssues, redactMeshText } from './src/redact.ts'
export { renderMesh, xdsFile } from './src/render.ts'
export type { RenderedMesh, RenderOptions, XdsFile } from './src/render.ts'
export { httpUrl, instancesOf, maxInstancesOf, meshModels, nodeInstanceName, nodesOf } from './src/schema.ts'
export type { Host, HostInstance, MeshConfig, MeshNode, Route } from './src/schema.ts'
export { paths, readHistory, writeAtomic } from './src/state.ts'
export type { HistoryEntry } from './src/state.ts'
export { readAutoscaleStatus } from './src/replicas.ts'
export type { PoolStatus, ScaleDecision } from './src/replicas.ts'
