import { useEffect, useRef } from 'preact/hooks'
import type uPlot from 'uplot'

export interface Line {
  label: string
  values: (number | null)[]
  /** A CSS colour with enough contrast on the page's background. */
  stroke: string
}

const HEIGHT = 180
const aligned = (t: number[], lines: Line[]) =>
  [t.map((x) => x / 1000), ...lines.map((l) => l.values)] as uPlot.AlignedData

/**
 * A time series chart (uPlot, canvas). uPlot is loaded with the first chart
 * (a chunk of its own), so the overview's first paint does not wait for it.
 * The canvas says nothing to a screen reader: the figure's label states what it shows.
 */
export function TimeChart({ t, lines, title, unit }: { t: number[]; lines: Line[]; title: string; unit: string }) {
  const el = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  // The newest data, for a chart created after the library arrives.
  const latest = useRef({ t, lines })
  latest.current = { t, lines }
  const shape = lines.map((l) => l.label).join('|')
  useEffect(() => {
    let gone = false
    let resize: ResizeObserver | undefined
    void import('uplot').then(({ default: UPlot }) => {
      const box = el.current
      if (gone || !box) return
      const { t, lines } = latest.current
      const opts: uPlot.Options = {
        width: Math.max(280, box.clientWidth),
        height: HEIGHT,
        // A series with few values (a quiet route, a fresh mesh) shows them as points: a lone value draws no line.
        series: [
          {},
          ...lines.map((l) => ({
            label: l.label,
            stroke: l.stroke,
            width: 1.5,
            spanGaps: false,
            points: { show: l.values.filter((v) => v != null).length < 60, size: 5, fill: l.stroke },
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : `${Number(v.toFixed(3))} ${unit}`),
          })),
        ],
        axes: [{}, { label: unit, size: 56 }],
        scales: { x: { time: true } },
        legend: { live: true },
      }
      plot.current = new UPlot(opts, aligned(t, lines), box)
      resize = new ResizeObserver(() =>
        plot.current?.setSize({ width: Math.max(280, box.clientWidth), height: HEIGHT }),
      )
      resize.observe(box)
    })
    return () => {
      gone = true
      resize?.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
  }, [shape, unit])
  useEffect(() => {
    plot.current?.setData(aligned(t, lines))
  }, [t, lines])
  return (
    <figure class="chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={el} />
    </figure>
  )
}
