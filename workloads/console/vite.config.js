// Charter console build. Preact rather than React: the same components and hooks API at a
// tenth of the size (the first load stays far under the 300 KB gzip budget with room for
// the charts and the RUM client), and JSX is compiled by Vite's own transformer (Oxc), so
// the build has no Babel. Charts are plain SVG components (src/charts.jsx): no chart
// library, no CDN, nothing fetched at run time but the app's own origin and the APIs.
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join, relative, sep } from 'node:path'
import { defineConfig } from 'vite'

const ROOT = import.meta.dirname
// What the build is made from; workloads/console/build.py hashes the same files the same way
// (a test compares the committed dist's hash with the sources').
export const HASHED = ['index.html', 'package.json', 'package-lock.json', 'vite.config.js', 'src', 'public']
const BUDGET = 300 * 1024

function files(path) {
  let st
  try { st = statSync(path) } catch { return [] }
  if (st.isFile()) return [path]
  return readdirSync(path).sort().flatMap((name) => files(join(path, name)))
}

export function sourceHash() {
  const h = createHash('sha256')
  const all = HASHED.flatMap((p) => files(join(ROOT, p)))
    .map((f) => relative(ROOT, f).split(sep).join('/')).sort()
  for (const rel of all) {
    const digest = createHash('sha256').update(readFileSync(join(ROOT, rel))).digest('hex')
    h.update(`${rel}\0${digest}\n`)
  }
  return h.digest('hex')
}

// Writes dist/build-info.json (source hash, sizes) and prints the first load's gzipped size.
function buildInfo() {
  return {
    name: 'charter-build-info',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const sizes = {}
      for (const [name, item] of Object.entries(bundle)) {
        const body = item.type === 'chunk' ? item.code : item.source
        sizes[name] = { bytes: Buffer.byteLength(body), gzip: gzipSync(body, { level: 9 }).length }
      }
      // the first load: index.html and what it references (entry chunk, its static imports, CSS)
      const first = new Set(['index.html'])
      const entry = Object.values(bundle).find((i) => i.type === 'chunk' && i.isEntry)
      const visit = (chunk) => {
        if (!chunk || first.has(chunk.fileName)) return
        first.add(chunk.fileName)
        for (const css of chunk.viteMetadata?.importedCss ?? []) first.add(css)
        for (const imp of chunk.imports) visit(bundle[imp])
      }
      visit(entry)
      const firstLoad = [...first].reduce((n, f) => n + (sizes[f]?.gzip ?? 0), 0)
      const info = {
        source_hash: sourceHash(), first_load_gzip: firstLoad, budget: BUDGET,
        first_load: [...first].sort(), files: sizes,
      }
      this.emitFile({ type: 'asset', fileName: 'build-info.json', source: JSON.stringify(info, null, 1) + '\n' })
      const kb = (n) => (n / 1024).toFixed(1)
      console.log(`\ncharter console: first load ${kb(firstLoad)} KB gzipped (budget ${kb(BUDGET)} KB); ` +
        `${Object.keys(sizes).length} files`)
      if (firstLoad > BUDGET) this.error(`first load ${firstLoad} bytes gzipped exceeds the ${BUDGET} budget`)
    },
  }
}

export default defineConfig({
  root: ROOT,
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // no inline polyfill script: the CSP allows scripts from 'self' only
    modulePreload: { polyfill: false },
    // deterministic names: the same sources give the same dist (and the same hash check)
    rollupOptions: { output: { entryFileNames: 'assets/[name]-[hash].js', chunkFileNames: 'assets/[name]-[hash].js',
      assetFileNames: 'assets/[name]-[hash][extname]' } },
  },
  plugins: [buildInfo()],
})
