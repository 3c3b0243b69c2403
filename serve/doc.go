// Package serve is the gateway's runtime: it serves MCP over stdio and over
// HTTP. It owns what a running gateway does between parsing flags and exiting:
// composing a session per principal (upstream pool, guard engine, tool cache,
// OAuth token sources, proxy.Gateway), the HTTP handler (authentication per
// request, key→session binding, Origin checks, limits, rate limits, LRU
// sessions), reload, signals and the Prometheus metrics. The CLI (package
// main) parses flags into serve's options and calls it; nothing else imports
// serve.
package serve
