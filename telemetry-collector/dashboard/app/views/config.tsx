import { useEffect, useState } from 'preact/hooks'
import { get } from '../api.ts'
import { Card } from '../components/status.tsx'

/** The live mesh.yaml, as the collector reads it now, with its API keys redacted (text null: not YAML, so not shown). */
interface Mesh {
  file: string
  valid: boolean
  text: string | null
}

export function ConfigView() {
  const [mesh, setMesh] = useState<Mesh | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    get<Mesh>('/api/v1/mesh').then(setMesh, (e: Error) => setError(e.message))
  }, [])
  return (
    <>
      <h1>Mesh config</h1>
      {error && (
        <p class="error-text" role="alert">
          {error}
        </p>
      )}
      {mesh && (
        <Card title={mesh.file}>
          {!mesh.valid && (
            <p class="banner warning">
              This file is not valid now; the mesh runs what was last applied (npx mesh validate says why).
            </p>
          )}
          <p class="muted">Edit it and run npx mesh apply, or change a canary from its route's page.</p>
          <p class="muted small">API keys show as "&lt;redacted&gt;": the file itself has them.</p>
          {mesh.text === null ? (
            <p class="muted">The file is not YAML that can be shown with its keys hidden, so it is not shown.</p>
          ) : (
            // biome-ignore lint/a11y/useAriaPropsSupportedByRole: the scrolling <pre> takes focus (axe: scrollable-region-focusable), and focus needs a name
            <pre tabIndex={0} aria-label="mesh.yaml">
              {mesh.text}
            </pre>
          )}
        </Card>
      )}
    </>
  )
}
