/** Stylesheets are bundled by esbuild into app.css; importing one only pulls it in. */
declare module '*.css' {}
