package main

import (
	"encoding/json"
	"strings"
	"testing"

	"secure-mcp-gateway/internal/config"
)

// TestShownServerMasksSecrets: what config and project commands print of a
// server never holds an env value, a header, or either kind of OAuth client
// secret.
func TestShownServerMasksSecrets(t *testing.T) {
	const canary = "CANARY-shown-server-7f3a"
	s := &config.Server{
		Name: "remote",
		Config: config.ServerConfig{
			URL:     "https://mcp.example/mcp",
			Env:     map[string]string{"TOKEN": canary},
			Headers: map[string]string{"Authorization": "Bearer " + canary},
		},
		OAuth:      &config.OAuthConfig{Enabled: true, ClientID: "id", ClientSecret: canary, TokenURL: "https://auth.example/token"},
		OAuthLogin: &config.OAuthLogin{ClientID: "id", ClientSecret: canary},
	}
	b, err := json.Marshal(shownServer(s))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), canary) {
		t.Fatalf("shown server holds a secret: %s", b)
	}
	if s.OAuthLogin.ClientSecret != canary || s.OAuth.ClientSecret != canary {
		t.Fatal("shownServer changed the server it shows")
	}
}
