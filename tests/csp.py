"""Content-Security-Policy violations seen by a browser test (Playwright).

watch_csp(context) makes every page of the context report each `securitypolicyviolation` event
on its console, and collects those lines and Chromium's own "Refused to ... Content Security
Policy" console errors (the event says where); a test asserts the list is empty once its pages have been shown. The
listener is an init script, which Playwright adds through the DevTools protocol, so the policy
it watches does not block it.
"""

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const where = event.sourceFile ? " from " + event.sourceFile + ":" + event.lineNumber : "";
  const element = event.target && event.target.tagName
    ? " on <" + event.target.tagName.toLowerCase() + (event.target.id ? " id=" + event.target.id : "") + ">" : "";
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline")
    + element + where + " (" + (event.sample || "") + ") at " + event.documentURI);
});
"""


def watch_csp(context) -> list[str]:
    violations: list[str] = []

    def on_console(message) -> None:
        text = message.text
        if message.type == "error" and text.startswith("CSP violation"):
            violations.append(text)

    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", on_console)
    return violations
