package config

import (
	"errors"
	"strings"
	"testing"
)

func TestOAuthLoginRoundTrip(t *testing.T) {
	in := `{"common_mcp_gateway_config": {}, "mcp_configs": {"c": {"mcp_config_name": "n", "mcp_config": [
		{"server_name": "gh", "description": "", "config": {"url": "https://api.githubcopilot.com/mcp/"},
		 "oauth": {"flow": "authorization_code", "scopes": ["repo", "read:org"], "client_id": "Iv1.abc",
		           "client_secret": "CANARY-login-secret", "redirect_port": 8765, "x_future": true}}]}}}`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.MCPConfigs["c"].Server("gh")
	o := s.OAuthLogin
	if o == nil || o.Flow != FlowAuthorizationCode || strings.Join(o.Scopes, " ") != "repo read:org" ||
		o.ClientID != "Iv1.abc" || o.ClientSecret != "CANARY-login-secret" || o.RedirectPort != 8765 {
		t.Fatalf("oauth = %+v", o.Redacted())
	}
	if r := o.Redacted(); r.ClientSecret != masked || o.ClientSecret == masked {
		t.Errorf("Redacted = %+v (original changed: %v)", r, o.ClientSecret == masked)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"oauth": {`, `"redirect_port": 8765`, `"x_future": true`, `"CANARY-login-secret"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("saved file lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), `"oauth_config"`) {
		t.Errorf("saved file grew oauth_config:\n%s", out)
	}
}

func TestValidateOAuthLogin(t *testing.T) {
	tests := []struct {
		name   string
		server Server
		paths  []string
	}{
		{"ok dynamic", Server{Name: "a", Config: ServerConfig{URL: "https://mcp.example/mcp"}, OAuthLogin: &OAuthLogin{}}, nil},
		{"ok configured", Server{Name: "a", Config: ServerConfig{URL: "https://mcp.example/mcp"},
			OAuthLogin: &OAuthLogin{Flow: "authorization_code", ClientID: "x", ClientSecret: "y", RedirectPort: 9000, Scopes: []string{"a"}}}, nil},
		{"bad flow", Server{Name: "a", Config: ServerConfig{URL: "https://mcp.example/mcp"}, OAuthLogin: &OAuthLogin{Flow: "implicit"}},
			[]string{".oauth.flow"}},
		{"local server", Server{Name: "a", Config: ServerConfig{Command: "x"}, OAuthLogin: &OAuthLogin{}}, []string{".oauth"}},
		{"secret without id", Server{Name: "a", Config: ServerConfig{URL: "https://mcp.example/mcp"}, OAuthLogin: &OAuthLogin{ClientSecret: "s"}},
			[]string{".oauth.client_secret"}},
		{"port and scopes", Server{Name: "a", Config: ServerConfig{URL: "https://mcp.example/mcp"},
			OAuthLogin: &OAuthLogin{RedirectPort: 70000, Scopes: []string{"a b", ""}}},
			[]string{".oauth.redirect_port", ".oauth.scopes[0]", ".oauth.scopes[1]"}},
		{"both kinds", Server{Name: "a", Config: ServerConfig{URL: "https://mcp.example/mcp"}, OAuthLogin: &OAuthLogin{},
			OAuth: &OAuthConfig{Enabled: true, TokenURL: "https://auth.example/token", ClientID: "i", ClientSecret: "s"}},
			[]string{".oauth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := minimalConfig()
			s := tt.server
			c.MCPConfigs["c"].Servers = []*Server{&s}
			err := c.Validate()
			var ve *ValidationError
			if len(tt.paths) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, strings.TrimPrefix(p.Path, "mcp_configs.c.mcp_config[0]"))
				if strings.Contains(p.Error(), "CANARY") {
					t.Error("a problem quotes the secret")
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.paths, ",") {
				t.Errorf("problem paths = %v, want %v\n%v", got, tt.paths, err)
			}
		})
	}
}
