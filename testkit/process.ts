/**
 * @module
 * Whether a process is alive (signal 0 reaches it), for tests that start and stop processes.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
