// Bundles src/ into dist/siwi.js (the citizen widget: one minified IIFE, CSS inlined) and dist/staff.js +
// dist/staff.css (the staff workspace served under /staff), and prints their sizes, raw and gzipped.
// `node build.mjs --watch` rebuilds on every change.

import { readFile, stat } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const pkg = JSON.parse(await readFile(new URL("./package.json", import.meta.url), "utf8"));
const OUTFILE = "dist/siwi.js";
/** Fail the build when the gzipped bundle grows past this: the widget loads on every page of a portal. */
const GZIP_BUDGET = 20 * 1024;
/** The staff pages load once a working day; still, no framework creeps in unnoticed. */
const STAFF_BUDGET = { "dist/staff.js": 24 * 1024, "dist/staff.css": 6 * 1024 };

/** `import css from "./x.css"` gives the minified stylesheet as a string. */
const cssText = {
  name: "css-text",
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (args) => {
      const { code } = await esbuild.transform(await readFile(args.path, "utf8"), { loader: "css", minify: true });
      return { contents: `export default ${JSON.stringify(code.trim())};`, loader: "js" };
    });
  },
};

const options = {
  entryPoints: ["src/index.ts"],
  outfile: OUTFILE,
  bundle: true,
  format: "iife",
  minify: true,
  target: ["es2020", "chrome90", "firefox90", "safari15"],
  charset: "utf8",
  legalComments: "none",
  banner: { js: `/*! SiWi chat widget ${pkg.version} | ${pkg.license} */` },
  define: { __VERSION__: JSON.stringify(pkg.version) },
  plugins: [cssText],
  logLevel: "warning",
};

/** The staff workspace: its own script and stylesheet (a normal page, no Shadow DOM). */
const staffOptions = {
  entryPoints: [{ in: "src/staff.ts", out: "staff" }, { in: "src/staff.css", out: "staff" }],
  outdir: "dist",
  bundle: true,
  format: "iife",
  minify: true,
  target: options.target,
  charset: "utf8",
  legalComments: "none",
  banner: { js: `/*! SiWi staff workspace ${pkg.version} | ${pkg.license} */` },
  logLevel: "warning",
};

async function report() {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  for (const [file, budget] of [[OUTFILE, GZIP_BUDGET], ...Object.entries(STAFF_BUDGET)]) {
    const code = await readFile(file);
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`${file}: ${kb((await stat(file)).size)}, ${kb(gzipped)} gzipped`);
    if (gzipped > budget) {
      console.error(`${file} is over its budget of ${kb(budget)} gzipped`);
      process.exitCode = 1;
    }
  }
}

if (process.argv.includes("--watch")) {
  const onEnd = { name: "report", setup: (b) => b.onEnd((r) => !r.errors.length && report().catch(() => {})) };
  const contexts = [
    await esbuild.context({ ...options, plugins: [...options.plugins, onEnd] }),
    await esbuild.context({ ...staffOptions, plugins: [onEnd] }),
  ];
  await Promise.all(contexts.map((c) => c.watch()));
  console.log("watching src/ …");
} else {
  await esbuild.build(options);
  await esbuild.build(staffOptions);
  await report();
}
