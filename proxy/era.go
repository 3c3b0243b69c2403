package proxy

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// Results by protocol era. A client of MCP 2026-07-28 gets the fields that
// version defines (resultType, ttlMs/cacheScope on lists, the gateway's
// serverInfo in _meta, which the SDK adds); an older client gets none of
// them, even where an upstream of 2026-07-28 sent them or the SDK's result
// types would write them.

// ModernProtocolVersion is the first MCP version of the stateless protocol
// (server/discover, per-request _meta, multi-round-trip requests, ttlMs).
const ModernProtocolVersion = "2026-07-28"

// CacheScope is the cacheScope of every result the gateway marks cacheable:
// what it answers depends on the caller's gateway key, so no cache may
// share it between users.
const CacheScope = "private"

// Fields of MCP 2026-07-28 results that clients of earlier versions never
// get.
var modernResultFields = []string{"resultType", "ttlMs", "cacheScope", "inputRequests", "requestState"}

// requestVersion is the protocol version of req: its own _meta's for a
// 2026-07-28 request, else the session's.
func requestVersion(req mcp.Request) string {
	if r, ok := req.(interface{ ProtocolVersion() string }); ok {
		return r.ProtocolVersion()
	}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
		if ip := ss.InitializeParams(); ip != nil {
			return ip.ProtocolVersion
		}
	}
	return ""
}

// shape fits res, the gateway's answer to req, to the client's protocol
// version.
func (g *Gateway) shape(req mcp.Request, res mcp.Result) mcp.Result {
	if res == nil {
		return nil
	}
	if requestVersion(req) >= ModernProtocolVersion {
		// An upstream's serverInfo would name the upstream to the client;
		// the SDK adds the gateway's in its place.
		withoutServerInfo(res)
		if c := cacheableOf(res); c != nil {
			c.TTLMs, c.CacheScope = g.ttlMs(res, c.TTLMs), CacheScope
		}
		return complete(res)
	}
	if r, ok := res.(*mcp.CallToolResult); ok && r != nil {
		// The hot path: a copy without the unexported resultType.
		return &mcp.CallToolResult{Meta: metaWithout(r.Meta), Content: r.Content, StructuredContent: r.StructuredContent, IsError: r.IsError}
	}
	switch res.(type) {
	case *mcp.ListToolsResult, *mcp.ListPromptsResult, *mcp.ListResourcesResult, *mcp.ListResourceTemplatesResult,
		*mcp.ReadResourceResult, *mcp.GetPromptResult:
		return legacyResult{res}
	}
	return res
}

// complete marks res, a result for a 2026-07-28 client, with resultType
// "complete" unless it is an input_required result passed through: that
// version requires the field, and a result from an older upstream, or one
// the gateway made, has none.
func complete(res mcp.Result) mcp.Result {
	switch r := res.(type) {
	case *mcp.CallToolResult:
		if r == nil || r.NeedsInput() {
			return res
		}
		// The hot path: a copy without the upstream's resultType, which
		// completeCall then writes.
		return completeCall{&mcp.CallToolResult{Meta: r.Meta, Content: r.Content, StructuredContent: r.StructuredContent, IsError: r.IsError}}
	case *mcp.GetPromptResult:
		if r == nil || r.NeedsInput() {
			return res
		}
		return completeResult{res}
	case *mcp.ReadResourceResult:
		if r == nil || r.NeedsInput() {
			return res
		}
		return completeResult{res}
	case *mcp.ListToolsResult:
		r.ResultType = "complete"
	case *mcp.ListPromptsResult:
		r.ResultType = "complete"
	case *mcp.ListResourcesResult:
		r.ResultType = "complete"
	case *mcp.ListResourceTemplatesResult:
		r.ResultType = "complete"
	}
	return res
}

// completeCall is a tool result without a resultType of its own, encoded
// with resultType "complete".
type completeCall struct{ *mcp.CallToolResult }

// MarshalJSON implements json.Marshaler.
func (r completeCall) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.CallToolResult)
	if err != nil {
		return nil, err
	}
	// b is an object with at least "content" (never omitted).
	return append([]byte(`{"resultType":"complete",`), b[1:]...), nil
}

// completeResult is a result encoded with resultType "complete" unless it
// has one.
type completeResult struct{ mcp.Result }

// MarshalJSON implements json.Marshaler.
func (r completeResult) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.Result)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if _, ok := m["resultType"]; ok {
		return b, nil
	}
	m["resultType"] = json.RawMessage(`"complete"`)
	return json.Marshal(m)
}

// cacheableOf returns the cache fields of res, or nil when it has none.
func cacheableOf(res mcp.Result) *mcp.Cacheable {
	switch r := res.(type) {
	case *mcp.ListToolsResult:
		return &r.Cacheable
	case *mcp.ListPromptsResult:
		return &r.Cacheable
	case *mcp.ListResourcesResult:
		return &r.Cacheable
	case *mcp.ListResourceTemplatesResult:
		return &r.Cacheable
	case *mcp.ReadResourceResult:
		return &r.Cacheable
	}
	return nil
}

// ttlMs is how long a 2026-07-28 client may cache res, in milliseconds;
// upstream is the TTL an upstream gave it (resources/read).
func (g *Gateway) ttlMs(res mcp.Result, upstream int) int {
	switch res.(type) {
	case *mcp.ListToolsResult:
		return int(g.toolsFreshFor(time.Now()).Milliseconds())
	case *mcp.ReadResourceResult:
		// Each read is forwarded and checked anew; a cached one was
		// checked when it was read. The upstream's hint stands, bounded by
		// how long the gateway trusts a listing.
		return min(max(upstream, 0), int(g.relistBound().Milliseconds()))
	}
	// Resources and prompts are listed live at every request.
	return 0
}

// toolsFreshFor is how long the tools/list answer stays what the gateway
// would answer, as far as it knows at now: the time to the next
// rediscovery of the server listed longest ago, and zero while anything
// is pending (a list change announced, a server not listed or failed, a
// tool withheld: a rug pull or an unapproved pin waits for a decision).
func (g *Gateway) toolsFreshFor(now time.Time) time.Duration {
	if g.opts.ToolExposure == config.ToolExposureMeta {
		return g.relistBound() // the meta-tools never change
	}
	return g.cat.freshFor(now, g.relistBound())
}

// relistBound is the longest the gateway trusts a listing: the relist
// interval, or DefaultRelistInterval when listings never expire.
func (g *Gateway) relistBound() time.Duration {
	if g.opts.RelistInterval < 0 {
		return DefaultRelistInterval
	}
	return g.opts.RelistInterval
}

// setCacheable is ServerOptions.SetCacheable, for the results the SDK
// builds (server/discover): the gateway's capabilities and instructions
// hold for the session, but a client is asked to look again as often as
// the gateway relists.
func (g *Gateway) setCacheable(_ context.Context, _ mcp.Request, c *mcp.Cacheable) {
	c.TTLMs, c.CacheScope = int(g.relistBound().Milliseconds()), CacheScope
}

// freshFor is the catalog's part of Gateway.toolsFreshFor; bound caps it.
func (c *catalog) freshFor(now time.Time, bound time.Duration) time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.built || len(c.withheld) > 0 {
		return 0
	}
	ttl := bound
	for _, s := range c.servers {
		st := c.state[s.Name]
		if st == nil || !st.ok || st.dirty() || len(st.withheld) > 0 || st.listedAt.IsZero() {
			return 0
		}
		if c.relist >= 0 {
			ttl = min(ttl, c.relist-now.Sub(st.listedAt))
		}
	}
	return max(ttl, 0)
}

// withoutServerInfo removes an upstream's serverInfo from res's _meta.
func withoutServerInfo(res mcp.Result) {
	if m := res.GetMeta(); m != nil {
		if _, ok := m[mcp.MetaKeyServerInfo]; ok {
			res.SetMeta(metaWithout(m))
		}
	}
}

// metaWithout returns m without the serverInfo key, copying it only when
// it has one.
func metaWithout(m mcp.Meta) mcp.Meta {
	if _, ok := m[mcp.MetaKeyServerInfo]; !ok {
		return m
	}
	cp := maps.Clone(m)
	delete(cp, mcp.MetaKeyServerInfo)
	if len(cp) == 0 {
		return nil
	}
	return cp
}

// legacyResult is a result for a client older than 2026-07-28: encoded
// without the fields that version added.
type legacyResult struct{ mcp.Result }

// MarshalJSON implements json.Marshaler.
func (r legacyResult) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.Result)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range modernResultFields {
		delete(m, k)
	}
	if raw, ok := m["_meta"]; ok {
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(raw, &meta); err == nil {
			if _, ok := meta[mcp.MetaKeyServerInfo]; ok {
				delete(meta, mcp.MetaKeyServerInfo)
				if len(meta) == 0 {
					delete(m, "_meta")
				} else if m["_meta"], err = json.Marshal(meta); err != nil {
					return nil, err
				}
			}
		}
	}
	return json.Marshal(m)
}
