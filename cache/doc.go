// Package cache keeps tool discovery warm so that a new gateway process can
// answer tools/list without starting a single upstream.
//
// A Store has up to three tiers, consulted in this order: an in-process
// ristretto cache, a persistent store of one file per entry in a directory
// beside the config file (mode 0600, written atomically), and an optional
// Redis database shared by replicas and other machines. A hit in a slower
// tier is copied into the faster ones.
//
// Entries are keyed by Key: a SHA-256 over everything that defines an
// upstream server (command, args, env names and a hash of their values, URL,
// header names and a hash of their values, tool allow-list, tool prefix) and
// the MCP config ID, so any change to a server entry misses the cache. Values
// hold the upstream's tool definitions as it listed them, never a config
// secret. An entry is fresh until its TTL; after that it is stale, served only
// while the caller revalidates it, and dropped once MaxStale more has passed.
//
// Correctness never depends on a hit: every tier may lose an entry (ristretto
// drops sets under admission pressure; Redis may be down), and the caller then
// asks the upstream. A Redis outage or a wrong password is logged once per
// outage and the local tiers carry on.
//
// This package decides no policy: guardrails run on what it returns, every
// time. It must never import proxy, upstream, guard, authn or oauthx.
package cache
