// build.mjs bundles .css files as minified text (adopted into the Shadow DOM).
declare module "*.css" {
  const css: string;
  export default css;
}

declare const __VERSION__: string;
