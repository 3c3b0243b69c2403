package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
)

// The meta-tools that report servers, discovery, the cache and timeouts.

// discoveryResult is one server's discovery, as enkrypt_discover_all_tools
// reports it. It assumes discovery ran.
func (m *metaSurface) discoveryResult(name string) map[string]any {
	st := m.cat.status(name)
	ok, err := st.ok, st.err
	if !ok {
		code, msg := CodeDiscoveryFailed, fmt.Sprintf("Tool discovery of server %q failed: %v", name, undecodable(err))
		if errors.Is(err, context.DeadlineExceeded) {
			code = CodeDiscoveryTimout
		}
		e := envelope(code, msg, map[string]any{"server_name": name, "operation": "discovery"})
		e["server_name"] = name
		return e
	}
	tools, blocked := m.cat.serverTools(name)
	blocked, denied := m.splitDenied(name, blocked)
	reasons := make([]string, 0, len(blocked))
	for _, b := range blocked {
		reasons = append(reasons, b["reasons"].([]string)...)
	}
	source := "discovery"
	if m.cat.dc.fromCache(name) {
		source = "cache"
	}
	return map[string]any{
		"status": "success", "message": fmt.Sprintf("Tools discovered for server %s", name),
		"server_name": name, "tools": tools, "source": source,
		"blocked_tools": blocked, "blocked_count": len(blocked), "blocked_reasons": reasons,
		"policy_denied_tools": denied, "policy_denied_count": len(denied),
	}
}

// splitDenied separates, as the Python gateway 2.2 does, the tools a
// denied_tools list removes from those guardrails withheld.
func (m *metaSurface) splitDenied(server string, blocked []map[string]any) (rest, denied []map[string]any) {
	d, ok := m.guard.(interface {
		Denied(server, tool string) (*guard.DeniedError, bool)
	})
	rest, denied = []map[string]any{}, []map[string]any{}
	for _, b := range blocked {
		if name, _ := b["name"].(string); ok {
			if de, isDenied := d.Denied(server, name); isDenied {
				denied = append(denied, map[string]any{"name": name, "pattern": de.Pattern, "reason": de.Reason})
				continue
			}
		}
		rest = append(rest, b)
	}
	return rest, denied
}

func (m *metaSurface) discoverOne(ctx context.Context, name string) map[string]any {
	if findServer(m.servers, name) == nil {
		return notFound(name)
	}
	m.cat.discoverOnly(ctx, name)
	return m.discoveryResult(name)
}

func (m *metaSurface) listServers(ctx context.Context, discover bool) map[string]any {
	servers := map[string]any{}
	if !discover {
		var needing []string
		for _, s := range m.servers {
			e := safeServerEntry(s)
			known := m.cat.status(s.Name).ok
			if known {
				d := m.discoveryResult(s.Name)
				e["tools"], e["tools_source"], e["has_cached_tools"] = d["tools"], d["source"], d["source"] == "cache"
			} else {
				e["tools"], e["tools_source"], e["has_cached_tools"] = nil, nil, false
				needing = append(needing, s.Name)
			}
			servers[s.Name] = e
		}
		if needing == nil {
			needing = []string{}
		}
		return map[string]any{"status": "success", "available_servers": servers, "servers_needing_discovery": needing}
	}
	m.cat.discover(ctx)
	failed, succeeded := []string{}, []string{}
	for _, s := range m.servers {
		d := m.discoveryResult(s.Name)
		if d["status"] == "success" {
			succeeded = append(succeeded, s.Name)
		} else {
			failed = append(failed, s.Name)
		}
		servers[s.Name] = d
	}
	return map[string]any{"status": "success", "message": "Tools discovery tried for all servers",
		"discovery_failed_servers": failed, "discovery_success_servers": succeeded, "available_servers": servers}
}

func (m *metaSurface) serverInfo(ctx context.Context, name string) map[string]any {
	s := findServer(m.servers, name)
	if s == nil {
		return notFound(name)
	}
	st := m.cat.status(name)
	state := map[string]any{"discovered": st.ok, "tool_count": st.tools}
	if st.err != nil && !st.ok {
		state["last_error"] = st.err.Error()
	}
	return map[string]any{"status": "success", "server_name": name, "server_info": safeServerEntry(s), "discovery": state}
}

// secretArg matches command-line flags whose value is likely a secret.
var secretArg = regexp.MustCompile(`(?i)(key|token|secret|passw|auth|credential|bearer)`)

// safeServerEntry is a server's config entry without secrets: env and
// header values are masked entirely, the OAuth config is redacted, a URL
// loses its user info and query, and the values of secret-looking flags are
// masked. Guardrail policies show their switches, not their extra config.
func safeServerEntry(s *config.Server) map[string]any {
	cfg := map[string]any{}
	if s.Config.Command != "" {
		cfg["command"] = s.Config.Command
		args := make([]string, len(s.Config.Args))
		maskNext := false
		for i, a := range s.Config.Args {
			switch {
			case maskNext:
				args[i], maskNext = secret.Masked, false
			case strings.HasPrefix(a, "-") && strings.Contains(a, "=") && secretArg.MatchString(a[:strings.Index(a, "=")]):
				args[i] = a[:strings.Index(a, "=")+1] + secret.Masked
			case strings.HasPrefix(a, "-") && secretArg.MatchString(a):
				args[i], maskNext = a, true
			default:
				args[i] = a
			}
		}
		cfg["args"] = args
	}
	if s.Config.URL != "" {
		cfg["url"] = safeURL(s.Config.URL)
	}
	mask := func(m map[string]string) map[string]string {
		out := make(map[string]string, len(m))
		for k := range m {
			out[k] = secret.Masked
		}
		return out
	}
	cfg["env"] = mask(s.Config.Env)
	if len(s.Config.Headers) > 0 {
		cfg["headers"] = mask(s.Config.Headers)
	}
	e := map[string]any{"server_name": s.Name, "description": s.Description, "config": cfg}
	if len(s.Tools) > 0 {
		names := make([]string, 0, len(s.Tools))
		for t := range s.Tools {
			if s.ToolAllowed(t) {
				names = append(names, t)
			}
		}
		e["allowed_tools"] = names
	}
	policy := func(p *config.Policy) map[string]any {
		if p == nil {
			return map[string]any{"enabled": false}
		}
		return map[string]any{"enabled": p.Enabled, "policy_name": p.PolicyName, "block": p.Block}
	}
	e["input_guardrails_policy"] = policy(s.InputGuardrailsPolicy)
	e["output_guardrails_policy"] = policy(s.OutputGuardrailsPolicy)
	e["tool_guardrails_policy"] = policy(s.ToolGuardrailsPolicy)
	if s.OAuth != nil {
		e["oauth_config"] = s.OAuth.Redacted()
	}
	return e
}

func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return secret.Masked
	}
	if u.User != nil {
		u.User = url.User(secret.Masked)
	}
	if u.RawQuery != "" {
		u.RawQuery = secret.Masked
	}
	u.Fragment = ""
	return u.String()
}

// guardrailsApplied is the Python gateway's guardrails_applied block.
func guardrailsApplied(s *config.Server) map[string]any {
	on := func(p *config.Policy) bool { return p != nil && p.Enabled }
	flag := func(p *config.Policy, k string) bool {
		if !on(p) {
			return false
		}
		b, _ := p.AdditionalConfig[k].(bool)
		return b
	}
	in, out := s.InputGuardrailsPolicy, s.OutputGuardrailsPolicy
	return map[string]any{
		"input_guardrails_enabled": on(in), "output_guardrails_enabled": on(out),
		"pii_redaction_enabled":   flag(in, "pii_redaction") || flag(out, "pii_redaction"),
		"relevancy_check_enabled": flag(out, "relevancy"), "adherence_check_enabled": flag(out, "adherence"),
		"hallucination_check_enabled": flag(out, "hallucination"),
	}
}

func (m *metaSurface) cacheStatus(ctx context.Context) map[string]any {
	admin, _ := m.rawCache.(toolCacheAdmin)
	servers := map[string]any{}
	now := time.Now()
	for _, s := range m.servers {
		e := map[string]any{"exists": false, "are_tools_explicitly_defined": len(s.Tools) > 0}
		e["needs_discovery"] = !m.cat.status(s.Name).ok
		if admin != nil {
			cctx, op := m.timeouts.Start(ctx, KindCache, fmt.Sprintf("discovery cache status of server %q", s.Name))
			type found struct {
				stored, expires time.Time
				n               int
				ok              bool
			}
			f, err := within(cctx, op, func(ctx context.Context) (found, error) {
				st, ex, n, ok := admin.InspectTools(ctx, m.cat.dc.configID, s)
				return found{st, ex, n, ok}, nil
			})
			op.End(err)
			switch {
			case err != nil:
				e["error"] = err.Error()
			case f.ok:
				e["exists"], e["tool_count"] = true, f.n
				e["stored_at"], e["expires_at"] = f.stored.UTC().Format(time.RFC3339), f.expires.UTC().Format(time.RFC3339)
				e["expires_in_hours"] = f.expires.Sub(now).Hours()
				e["is_expired"] = !now.Before(f.expires)
			}
		}
		servers[s.Name] = e
	}
	return map[string]any{"status": "success", "cache_status": map[string]any{
		"gateway_specific": map[string]any{
			"config":  map[string]any{"exists": false, "note": "the gateway config is read from the config file when a session starts; it is not cached"},
			"servers": servers,
		},
		"global": map[string]any{"cache_available": admin != nil, "cache_type": cacheType(admin)},
	}}
}

func cacheType(admin toolCacheAdmin) string {
	if admin == nil {
		return "none"
	}
	return "tiered"
}

func (m *metaSurface) clearCache(ctx context.Context, id, server, cacheType string) map[string]any {
	if cacheType == "" {
		cacheType = "all"
	}
	switch cacheType {
	case "gateway_config", "gateway", "gateway_cache", "gateway_config_cache":
		return map[string]any{"status": "info", "message": "The gateway config is not cached: it is read from the config file when a session starts. Nothing to clear."}
	}
	admin, _ := m.rawCache.(toolCacheAdmin)
	if admin == nil {
		return map[string]any{"status": "info", "message": "No discovery cache is configured; nothing to clear."}
	}
	targets := m.servers
	if server != "" {
		s := findServer(m.servers, server)
		if s == nil {
			return notFound(server)
		}
		targets = []*config.Server{s}
	}
	cleared := 0
	for _, s := range targets {
		cctx, op := m.timeouts.Start(ctx, KindCache, fmt.Sprintf("discovery cache clear of server %q", s.Name))
		found, err := within(cctx, op, func(ctx context.Context) (bool, error) { return admin.ClearTools(ctx, m.cat.dc.configID, s) })
		op.End(err)
		if err != nil {
			return envelope(CodeCacheFailed, fmt.Sprintf("Clearing the cached tools of server %q failed: %v", s.Name, err),
				map[string]any{"server_name": s.Name, "operation": "clear_cache"})
		}
		if found {
			cleared++
		}
		// The next discovery lists the upstream live again.
		m.cat.invalidate(s.Name)
	}
	out := map[string]any{"status": "success"}
	if id != "" {
		out["note"] = "id is ignored: a gateway key can only clear its own servers' entries"
	}
	switch {
	case server != "" && cleared == 0:
		out["status"], out["message"] = "info", "No cache found for server: "+server
	case server != "":
		out["message"] = "Cache cleared for server: " + server
	case cacheType == "all":
		out["message"] = fmt.Sprintf("Cache cleared for all servers (%d servers) and gateway config (none)", cleared)
	default:
		out["message"] = fmt.Sprintf("Cache cleared for all servers (%d servers)", cleared)
	}
	return out
}

func (m *metaSurface) timeoutMetrics() map[string]any {
	mt, active := m.timeouts.Metrics()
	b := m.timeouts.Budgets()
	warn, timeout, fail := b.ratios()
	return map[string]any{
		"status":            "success",
		"timeout_metrics":   mt,
		"active_operations": active,
		"timeout_config":    b.TimeoutConfig(),
		"escalation_policies": map[string]float64{
			"warn_threshold": warn, "timeout_threshold": timeout, "fail_threshold": fail,
		},
	}
}
