import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'

export interface Line {
  label: string
  values: (number | null)[]
  /** A CSS colour with enough contrast on the page's background. */
  stroke: string
}

/**
 * A time series chart (uPlot, canvas). The canvas says nothing to a screen
 * reader, so the figure's label states what it shows.
 */
export function TimeChart({ t, lines, title, unit }: { t: number[]; lines: Line[]; title: string; unit: string }) {
  const el = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const shape = lines.map((l) => l.label).join('|')
  useEffect(() => {
    if (!el.current) return
    const opts: uPlot.Options = {
      width: Math.max(280, el.current.clientWidth),
      height: 180,
      // A series with few values (a quiet route, a fresh mesh) shows them as points: a lone value draws no line.
      series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.stroke, width: 1.5, spanGaps: false, points: { show: l.values.filter((v) => v != null).length < 60, size: 5, fill: l.stroke }, value: (_u: uPlot, v: number | null) => (v == null ? '–' : `${Number(v.toFixed(3))} ${unit}`) }))],
      axes: [{}, { label: unit, size: 56 }],
      scales: { x: { time: true } },
      legend: { live: true },
    }
    plot.current = new uPlot(opts, [t.map((x) => x / 1000), ...lines.map((l) => l.values)] as uPlot.AlignedData, el.current)
    const resize = new ResizeObserver(() => el.current && plot.current?.setSize({ width: Math.max(280, el.current.clientWidth), height: 180 }))
    resize.observe(el.current)
    return () => {
      resize.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
  }, [shape, unit])
  useEffect(() => {
    plot.current?.setData([t.map((x) => x / 1000), ...lines.map((l) => l.values)] as uPlot.AlignedData)
  }, [t, lines])
  return (
    <figure class="chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={el} />
    </figure>
  )
}
