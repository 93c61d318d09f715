/**
 * @module
 * The node telemetry agent's front door for the tests and benches that run
 * it in process: startAgent and its options, and the headers it publishes
 * with. The process starts through `@model-mesh/telemetry-agent/cli`
 * (`telemetry-agent --settings <file>`).
 */
export { startAgent } from './agent.ts'
export type { AgentOptions, RunningAgent } from './agent.ts'
export { messageHeaders } from './publisher.ts'
