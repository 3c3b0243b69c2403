package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

// FieldError is one problem in a config, located by a JSON path such as
// mcp_configs.<id>.mcp_config[0].config.command. Entries of apikeys appear as
// apikeys[fp:<8 hex digits>], never by the key itself.
type FieldError struct {
	// Path locates the offending value.
	Path string
	// Problem says what is wrong.
	Problem string
	// Fix says how to correct it; empty when there is no single fix.
	Fix string
}

// Error implements error as "<path>: <problem>", followed by a second
// line "  hint: <fix>" when there is a fix.
func (e FieldError) Error() string {
	s := e.Path + ": " + e.Problem
	if e.Path == "" {
		s = e.Problem
	}
	if e.Fix != "" {
		s += "\n  hint: " + e.Fix
	}
	return s
}

// ValidationError lists every problem found in a config.
type ValidationError struct {
	Problems []FieldError
}

// Error implements error with one line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// validServerName reports whether name is what a server name may look
// like: it becomes part of tool names, so 1-64 of A-Z a-z 0-9 _ . -. (A
// loop, not a regexp: `{1,64}` compiles into 64 copies at process start.)
func validServerName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validator collects problems.
type validator struct {
	problems []FieldError
	known    *Detectors // WithDetectors; nil: names are not checked
}

func (v *validator) add(path, problem, fix string) {
	v.problems = append(v.problems, FieldError{Path: path, Problem: problem, Fix: fix})
}

// Validate checks the config's meaning and returns nil or a *ValidationError
// listing every problem, in a stable order.
func (c *Config) Validate(opts ...Option) error {
	var v validator
	for _, o := range opts {
		o(&v)
	}
	v.common(&c.Common)
	for _, id := range slices.Sorted(maps.Keys(c.MCPConfigs)) {
		v.mcpConfig(joinKey("mcp_configs", id), c.MCPConfigs[id])
	}
	for _, id := range slices.Sorted(maps.Keys(c.Projects)) {
		path := joinKey("projects", id)
		p := c.Projects[id]
		if p == nil {
			v.add(path, "project is null", "remove the entry or give it a project_name")
			continue
		}
		if p.MCPConfigID != "" {
			if _, ok := c.MCPConfigByID(p.MCPConfigID); !ok {
				v.add(path+".mcp_config_id", fmt.Sprintf("mcp config %q does not exist", p.MCPConfigID),
					"use an ID from mcp_configs, or empty to leave the project unassigned")
			}
		}
		for i, u := range p.Users {
			if c.Users[u] == nil {
				v.add(fmt.Sprintf("%s.users[%d]", path, i), fmt.Sprintf("user %q does not exist", u),
					"add the user to users or remove it from the project")
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.Users)) {
		if c.Users[id] == nil {
			v.add(joinKey("users", id), "user is null", "remove the entry or give it an email")
		}
	}
	v.apiKeys(c)
	v.detectors(c)
	v.hooks(c.Hooks)
	v.audit(c.Audit)
	v.telemetry(c.Plugins.Telemetry)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

func (v *validator) common(c *Common) {
	const base = "common_mcp_gateway_config"
	switch c.ToolExposure {
	case "", ToolExposureDirect, ToolExposureMeta:
	default:
		v.add(base+".tool_exposure", fmt.Sprintf("unknown tool exposure %q", c.ToolExposure),
			`use "direct", "meta", or remove the key`)
	}
	if e := c.EgressAfterInjection; e != "" && e != "block" && e != "allow" {
		v.add(base+".egress_after_injection", fmt.Sprintf("unknown value %q", e), `use "block" or "allow"`)
	}
	if c.MaxMessageBytes < 0 {
		v.add(base+".max_message_bytes", "must not be negative", "use a number of bytes, or 0 for the default of 16 MiB")
	}
	v.deniedTools(base+".denied_tools", c.DeniedTools)
	if c.CachePort < 0 || c.CachePort > 65535 {
		v.add(base+".enkrypt_cache_port", fmt.Sprintf("port %d is out of range", c.CachePort), "use a port from 1 to 65535")
	}
	for _, f := range []struct {
		key string
		val float64
	}{
		{"enkrypt_tool_cache_expiration", c.ToolCacheExpiration},
		{"enkrypt_gateway_cache_expiration", c.GatewayCacheExpiration},
	} {
		if f.val < 0 {
			v.add(base+"."+f.key, "must not be negative", "use a number of hours, or 0 for the default")
		}
	}
	t := c.Timeouts
	tp := base + ".timeout_settings"
	for _, f := range []struct {
		key string
		val float64
	}{
		{"default_timeout", t.Default},
		{"guardrail_timeout", t.Guardrail},
		{"auth_timeout", t.Auth},
		{"tool_execution_timeout", t.ToolExecution},
		{"discovery_timeout", t.Discovery},
		{"cache_timeout", t.Cache},
		{"connectivity_timeout", t.Connectivity},
		{"escalation_policies.warn_threshold", t.Escalation.Warn},
		{"escalation_policies.timeout_threshold", t.Escalation.Timeout},
		{"escalation_policies.fail_threshold", t.Escalation.Fail},
	} {
		if f.val < 0 {
			v.add(tp+"."+f.key, "must not be negative", "use a positive number of seconds, or 0 for the default")
		}
	}
}

func (v *validator) mcpConfig(path string, m *MCPConfig) {
	if m == nil {
		v.add(path, "mcp config is null", "remove the entry or give it mcp_config_name and mcp_config")
		return
	}
	seen := make(map[string]int)
	for i, s := range m.Servers {
		sp := fmt.Sprintf("%s.mcp_config[%d]", path, i)
		if s == nil {
			v.add(sp, "server entry is null", "remove it")
			continue
		}
		switch {
		case s.Name == "":
			v.add(sp+".server_name", "server_name is missing", "give the server a unique name")
		case !validServerName(s.Name):
			v.add(sp+".server_name", fmt.Sprintf("server name %q is not 1-64 of A-Z a-z 0-9 _ . -", s.Name),
				"rename the server using only letters, digits, '_', '.' and '-'")
		}
		if s.Name != "" {
			if j, dup := seen[s.Name]; dup {
				v.add(sp+".server_name", fmt.Sprintf("server name %q is already used by mcp_config[%d]", s.Name, j),
					"give each server of a config a different name")
			} else {
				seen[s.Name] = i
			}
		}
		v.server(sp, s)
	}
}

func (v *validator) server(path string, s *Server) {
	cp := path + ".config"
	switch {
	case s.Config.Command == "" && s.Config.URL == "":
		v.add(cp, "neither command nor url is set", "set config.command for a local server or config.url for a remote one")
	case s.Config.Command != "" && s.Config.URL != "":
		v.add(cp, "both command and url are set", "keep only one of config.command and config.url")
	case s.Config.URL != "":
		if msg := checkURL(s.Config.URL); msg != "" {
			v.add(cp+".url", msg, "use an absolute http:// or https:// URL")
		}
	}
	if s.MaxMessageBytes < 0 {
		v.add(path+".max_message_bytes", "must not be negative", "use a number of bytes, or 0 for the common value")
	}
	if cr := s.ClientRequests; cr != nil {
		for _, f := range []struct{ key, val string }{
			{"sampling", cr.Sampling}, {"elicitation", cr.Elicitation}, {"roots", cr.Roots},
		} {
			if f.val != "" && f.val != "forward" && f.val != "deny" {
				v.add(path+".client_requests."+f.key, fmt.Sprintf("unknown policy %q", f.val), `use "forward" or "deny"`)
			}
		}
	}
	v.deniedTools(path+".denied_tools", s.DeniedTools)
	if s.OAuth != nil {
		v.oauth(path+".oauth_config", s.OAuth)
	}
	v.oauthLogin(path, s)
	if s.Sandbox != nil {
		for _, err := range s.Sandbox.Problems(path + ".sandbox") {
			var fe FieldError
			if errors.As(err, &fe) {
				v.problems = append(v.problems, fe)
			}
		}
	}
}

func (v *validator) oauth(path string, o *OAuthConfig) {
	if o.TokenExpiryBuffer < 0 {
		v.add(path+".OAUTH_TOKEN_EXPIRY_BUFFER", "must not be negative", "use a number of seconds, or 0 for the default")
	}
	if !o.Enabled {
		return
	}
	switch o.GrantType {
	case "", "client_credentials", "authorization_code", "refresh_token":
	default:
		v.add(path+".OAUTH_GRANT_TYPE", fmt.Sprintf("unknown grant type %q", o.GrantType),
			"use client_credentials, authorization_code or refresh_token")
	}
	if o.TokenURL == "" {
		v.add(path+".OAUTH_TOKEN_URL", "token URL is missing", "set OAUTH_TOKEN_URL or set enabled to false")
	} else if msg := checkURL(o.TokenURL); msg != "" {
		v.add(path+".OAUTH_TOKEN_URL", msg, "use an absolute http:// or https:// URL")
	} else if o.HTTPSRequired() && !strings.HasPrefix(strings.ToLower(o.TokenURL), "https://") && !loopbackURL(o.TokenURL) {
		v.add(path+".OAUTH_TOKEN_URL", "token URL must use https (http is allowed only for loopback)", "use an https:// URL or set OAUTH_ENFORCE_HTTPS to false")
	}
	if (o.GrantType == "" || o.GrantType == "client_credentials") && (o.ClientID == "" || o.ClientSecret == "") {
		v.add(path, "client_credentials needs OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET", "set both")
	}
	if o.UseMTLS && (o.ClientCertPath == "" || o.ClientKeyPath == "") {
		v.add(path, "OAUTH_USE_MTLS needs OAUTH_CLIENT_CERT_PATH and OAUTH_CLIENT_KEY_PATH", "set both or turn mTLS off")
	}
}

// loopbackURL reports whether u's host is localhost or a loopback address,
// where OAuth 2.1 allows http.
func loopbackURL(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := strings.ToLower(pu.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkURL returns why u is not an absolute http(s) URL, or "".
func checkURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "URL does not parse"
	}
	if pu.Scheme != "http" && pu.Scheme != "https" {
		return fmt.Sprintf("URL scheme %q is not http or https", pu.Scheme)
	}
	if pu.Host == "" {
		return "URL has no host"
	}
	return ""
}

func (v *validator) apiKeys(c *Config) {
	hashed := make(map[string]bool)
	for k := range c.APIKeys {
		if h, ok := strings.CutPrefix(k, hashPrefix); ok && isHexDigest(h) {
			hashed[strings.ToLower(h)] = true
		}
	}
	type entry struct {
		path string
		key  string
	}
	entries := make([]entry, 0, len(c.APIKeys))
	for k := range c.APIKeys {
		entries = append(entries, entry{joinKey("apikeys", k), k})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })
	for _, e := range entries {
		rec := c.APIKeys[e.key]
		if h, ok := strings.CutPrefix(e.key, hashPrefix); ok {
			if !isHexDigest(h) {
				v.add(e.path, "a sha256: key must be followed by 64 hex digits",
					"rehash the key with the CLI or remove the entry")
			}
		} else {
			if e.key == "" {
				v.add(e.path, "gateway key is empty", "remove the entry")
			}
			sum := sha256.Sum256([]byte(e.key))
			if hashed[hex.EncodeToString(sum[:])] {
				v.add(e.path, "the key is stored both in plain text and hashed", "remove the plain-text entry")
			}
		}
		if rec == nil {
			v.add(e.path, "key record is null", "remove the entry or give it project_id and user_id")
			continue
		}
		if rec.ProjectID == "" {
			v.add(e.path+".project_id", "project_id is missing", "set it to an ID from projects")
		} else if c.Projects[rec.ProjectID] == nil {
			v.add(e.path+".project_id", fmt.Sprintf("project %q does not exist", rec.ProjectID),
				"set it to an ID from projects or remove the key")
		}
		if rec.UserID == "" {
			v.add(e.path+".user_id", "user_id is missing", "set it to an ID from users")
		} else if c.Users[rec.UserID] == nil {
			v.add(e.path+".user_id", fmt.Sprintf("user %q does not exist", rec.UserID),
				"set it to an ID from users or remove the key")
		}
	}
}
