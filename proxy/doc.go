// Package proxy is the MCP server that the client sees.
//
// It owns the tool surface (upstream tools re-exported as
// "<server>__<tool>"), the forwarding of calls to upstream sessions, and the
// order in which checks run around a call. It serves over stdio (Run) and,
// in HTTP mode, per session.
//
// It never parses config files and never spawns processes itself: the
// caller hands it a principal's servers and an upstream pool.
//
// The package is split by responsibility, each part with its own lock or
// none:
//
//   - gateway.go: Gateway, the composition the rest of the program uses
//     (New, Run, Server, the upstream client hooks), and the routing of
//     each client method to the part that answers it.
//   - catalog*.go, discovery_cache.go: the catalog — per-server discovery
//     with list_changed generations, the one first-wins merge (firstWins)
//     of tools, resources and prompts, the tools the guard or the pins
//     withhold, and the discovery cache; catalog_features.go holds
//     resources and prompts and the requests routed by them.
//   - pipeline*.go, requests.go: the call pipeline — named stages
//     (authorise, deny/pin check, input guard, forward, output guard)
//     timed into CallEvent.Stages; resources/read and prompts/get take
//     the same stages that apply to them.
//   - observe.go, events.go: one CallEvent per request to the observers.
//   - meta*.go: the enkrypt_* meta-tools, a client of the catalog and the
//     pipeline.
//   - checks.go: the guard on every other path (PathGuard, ContentGuard).
//   - forward.go: relays of what upstreams send besides responses
//     (notifications, sampling, elicitation, roots).
//   - timeouts.go: budgets and metrics per operation kind.
//   - toxic.go: the session's toxic-flow state.
package proxy
