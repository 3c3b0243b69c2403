// Package serve is the gateway's runtime: it serves MCP over stdio (Stdio)
// and over streamable HTTP (HTTP). It owns what a running gateway does
// between parsing flags and exiting: composing a session per principal
// (upstream pool, guard engine, tool cache, OAuth token sources,
// proxy.Gateway), the HTTP handler (authentication per request,
// key→session binding, Origin checks, limits, rate limits, LRU sessions;
// MCP 2026-07-28 requests served statelessly by one gateway per principal),
// config reload, a graceful stop when its context is cancelled (a signal),
// the Prometheus metrics and the masking of secrets in logs. The CLI
// (package main) parses flags into Options and calls it; nothing else
// imports serve, and serve never edits the config.
package serve
