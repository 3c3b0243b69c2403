// Package proxy is the MCP server that the client sees.
//
// It owns the tool surface (upstream tools re-exported as
// "<server>__<tool>"), the forwarding of calls to upstream sessions, and the
// order in which checks run around a call. It serves over stdio (Run) and,
// in HTTP mode, per session.
//
// It never parses config files and never spawns processes itself: the
// caller hands it a principal's servers and an upstream pool.
package proxy
