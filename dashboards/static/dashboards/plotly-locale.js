/* plotly.js-locales ships each locale as a CommonJS module (`module.exports = {...}`), not as a
   browser script. This gives the next script, vendor/plotly.js-locales/zh-cn.js, the `module` it
   assigns to; charts.js then registers module.exports with Plotly and removes `module` again.
   It runs after plotly-basic.min.js, whose loader would otherwise export itself into it. */
window.module = { exports: {} };
