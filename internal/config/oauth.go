package config

import "fmt"

// FlowAuthorizationCode is the only value of OAuthLogin.Flow: the user logs
// in once with `secure-mcp-gateway oauth login`, and the gateway refreshes
// the token from then on.
const FlowAuthorizationCode = "authorization_code"

// OAuthLogin is a remote server's "oauth" entry: the server follows the MCP
// authorization spec (a 401 naming its protected resource metadata), and the
// user logs in through a browser with the authorization code flow and PKCE.
// It is an addition of this gateway; the Python gateway's oauth_config keeps
// its own meaning (client credentials). ClientSecret is a secret: an
// OAuthLogin must never be logged or shown; use Redacted for that.
type OAuthLogin struct {
	// Flow is the grant; only "authorization_code" is supported. Empty means
	// "authorization_code".
	Flow string `json:"flow,omitempty"`
	// Scopes are requested at login, in addition to those the server asks
	// for in its 401 challenge. Empty means the scopes of the challenge, or
	// else every scope of the server's protected resource metadata.
	Scopes []string `json:"scopes,omitzero"`
	// ClientID is a client registered with the authorization server in
	// advance. Empty means dynamic client registration (RFC 7591), done once
	// per authorization server and remembered.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the secret of a confidential ClientID. Empty means a
	// public client (PKCE only).
	ClientSecret string `json:"client_secret,omitempty"`
	// RedirectPort is the port of the loopback redirect listener on
	// 127.0.0.1, for a ClientID registered with a fixed redirect URI. Zero
	// means a free port chosen at each login.
	RedirectPort int `json:"redirect_port,omitempty"`

	kept extra
}

// Redacted returns a copy that is safe to show: the client secret is
// replaced by "[REDACTED]".
func (o *OAuthLogin) Redacted() *OAuthLogin {
	if o == nil {
		return nil
	}
	c := *o
	c.ClientSecret = mask(c.ClientSecret)
	c.kept = extra{}
	return &c
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown keys.
func (o *OAuthLogin) UnmarshalJSON(b []byte) error {
	type shadow OAuthLogin
	var v shadow
	ex, err := decodeObject(b, &v)
	if err != nil {
		return err
	}
	*o = OAuthLogin(v)
	o.kept = ex
	return nil
}

// MarshalJSON implements json.Marshaler, writing unknown keys back.
func (o OAuthLogin) MarshalJSON() ([]byte, error) {
	type shadow OAuthLogin
	return encodeObject(shadow(o), o.kept)
}

// oauthLogin checks a server's "oauth" entry.
func (v *validator) oauthLogin(path string, s *Server) {
	o := s.OAuthLogin
	if o == nil {
		return
	}
	path += ".oauth"
	if o.Flow != "" && o.Flow != FlowAuthorizationCode {
		v.add(path+".flow", fmt.Sprintf("unknown flow %q", o.Flow),
			`use "authorization_code", or oauth_config for client credentials`)
	}
	if s.Config.URL == "" {
		v.add(path, "login applies to remote servers only", "set config.url, or use oauth_config for a local server")
	}
	if o.ClientSecret != "" && o.ClientID == "" {
		v.add(path+".client_secret", "client_secret without client_id", "set client_id too, or remove client_secret for dynamic registration")
	}
	if o.RedirectPort < 0 || o.RedirectPort > 65535 {
		v.add(path+".redirect_port", fmt.Sprintf("port %d is out of range", o.RedirectPort), "use 1-65535, or 0 for a free port")
	}
	for i, sc := range o.Scopes {
		if sc == "" || containsSpace(sc) {
			v.add(fmt.Sprintf("%s.scopes[%d]", path, i), fmt.Sprintf("scope %q is empty or holds a space", sc), "list each scope as its own string")
		}
	}
	if s.OAuth != nil && s.OAuth.Enabled {
		v.add(path, "both oauth (login) and an enabled oauth_config are set", "keep one: oauth for a browser login, oauth_config for client credentials")
	}
}

func containsSpace(s string) bool {
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return true
		}
	}
	return false
}
