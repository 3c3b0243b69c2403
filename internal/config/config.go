// Package config owns the gateway's JSON config file: the Python Secure MCP
// Gateway's ~/.enkrypt/enkrypt_mcp_config.json, read unchanged.
//
// Parse is strict where encoding/json is lax: it rejects invalid UTF-8,
// duplicate keys, and known keys spelled with different letter case (which
// encoding/json would otherwise match silently). Validate reports every
// problem at once, each with a JSON path and a fix. Load, Save and Update read
// and write the file; writes are atomic, serialised by a lock file, and keep
// timestamped backups.
//
// Every struct keeps the JSON keys it does not know, so a file written by the
// Python gateway (or a newer version of this one) survives a Parse→Marshal
// round trip with its extra keys intact.
//
// This package must never import another package of this module (not even
// internal/secret; deps_test.go enforces it), and must never print a secret: OAuth client secrets, gateway
// keys and upstream env values stay out of error messages.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultDirName is the directory, under the user's home, that holds the config file.
const DefaultDirName = ".enkrypt"

// DefaultFileName is the config file's name inside DefaultDirName.
const DefaultFileName = "enkrypt_mcp_config.json"

// Defaults for TimeoutSettings fields that are zero or absent.
const (
	DefaultTimeout              = 30 * time.Second
	DefaultGuardrailTimeout     = 15 * time.Second
	DefaultAuthTimeout          = 10 * time.Second
	DefaultToolExecutionTimeout = 60 * time.Second
	DefaultDiscoveryTimeout     = 20 * time.Second
	DefaultCacheTimeout         = 5 * time.Second
	DefaultConnectivityTimeout  = 2 * time.Second
)

// DefaultOAuthExpiryBuffer is how long before expiry an OAuth token is
// replaced when OAuthConfig.TokenExpiryBuffer is zero.
const DefaultOAuthExpiryBuffer = 300 * time.Second

// Tool exposure modes accepted in Common.ToolExposure.
const (
	// ToolExposureDirect re-exports upstream tools as server__tool.
	ToolExposureDirect = "direct"
	// ToolExposureMeta exposes the Python gateway's enkrypt_* meta-tools.
	ToolExposureMeta = "meta"
)

// DefaultPath returns ~/.enkrypt/enkrypt_mcp_config.json for the current user.
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory: %w", err)
	}
	return filepath.Join(home, DefaultDirName, DefaultFileName), nil
}

// Config is the whole config file.
type Config struct {
	// Schema is the JSON Schema that editors check the file against (see
	// docs/config.schema.json); empty means none. The gateway ignores it.
	Schema string `json:"$schema,omitempty"`
	// AdminAPIKey is the bearer token of the Python gateway's REST admin API.
	// It is a secret; empty means no admin API key.
	AdminAPIKey string `json:"admin_apikey,omitempty"`
	// Common holds gateway-wide settings.
	Common Common `json:"common_mcp_gateway_config"`
	// Plugins selects the auth, guardrail and telemetry providers.
	Plugins Plugins `json:"plugins,omitzero"`
	// MCPConfigs maps an MCP config ID (a UUID) to a list of upstream servers.
	MCPConfigs map[string]*MCPConfig `json:"mcp_configs,omitzero"`
	// Projects maps a project ID to a project.
	Projects map[string]*Project `json:"projects,omitzero"`
	// Users maps a user ID to a user.
	Users map[string]*User `json:"users,omitzero"`
	// APIKeys maps a gateway key, either legacy plaintext or "sha256:<hex>",
	// to the project and user it belongs to. Its keys are secrets.
	APIKeys map[string]*APIKey `json:"apikeys,omitzero"`
	// Hooks holds the policies of the hook command for the clients' own
	// tools and prompts. Nil means the built-in defaults.
	Hooks *Hooks `json:"hooks,omitempty"`
	// Audit configures the tamper-evident audit log; nil means off.
	Audit *Audit `json:"audit,omitempty"`

	kept        extra
	unknownKeys []FieldError // set by Parse; see UnknownKeys
}

// MCPConfigByID returns the MCP config with the given ID, and whether it exists.
func (c *Config) MCPConfigByID(id string) (*MCPConfig, bool) {
	if c == nil || id == "" {
		return nil, false
	}
	m, ok := c.MCPConfigs[id]
	return m, ok && m != nil
}

// Common is the common_mcp_gateway_config section.
type Common struct {
	// LogLevel is the log level name ("INFO", "DEBUG", …); empty means INFO.
	LogLevel string `json:"enkrypt_log_level"`
	// UseRemoteMCPConfig fetches the config from Enkrypt's API; not supported here.
	UseRemoteMCPConfig bool `json:"enkrypt_use_remote_mcp_config"`
	// UseExternalCache enables the Redis cache; false means in-process only.
	UseExternalCache bool `json:"enkrypt_mcp_use_external_cache"`
	// CacheHost is the Redis host; empty means localhost.
	CacheHost string `json:"enkrypt_cache_host"`
	// CachePort is the Redis port; zero means 6379.
	CachePort int `json:"enkrypt_cache_port"`
	// CacheDB is the Redis database number; zero is database 0.
	CacheDB int `json:"enkrypt_cache_db"`
	// CachePassword is the Redis password, a secret; nil (JSON null) means none.
	CachePassword *string `json:"enkrypt_cache_password"`
	// ToolCacheExpiration is the tool-list cache lifetime in hours; zero means 4.
	ToolCacheExpiration float64 `json:"enkrypt_tool_cache_expiration"`
	// GatewayCacheExpiration is the gateway-config cache lifetime in hours; zero means 24.
	GatewayCacheExpiration float64 `json:"enkrypt_gateway_cache_expiration"`
	// AsyncInputGuardrails is the Python gateway's async input flag. nil means
	// absent, which the Python gateway read as true.
	AsyncInputGuardrails *bool `json:"enkrypt_async_input_guardrails_enabled,omitempty"`
	// AsyncOutputGuardrails is the Python gateway's async output flag. nil
	// means absent, which the Python gateway read as true.
	AsyncOutputGuardrails *bool `json:"enkrypt_async_output_guardrails_enabled,omitempty"`
	// Timeouts holds per-operation timeouts; zero fields take defaults.
	Timeouts TimeoutSettings `json:"timeout_settings,omitzero"`
	// ToolExposure is how upstream tools are shown to the client: "direct"
	// (server__tool) or "meta" (enkrypt_* meta-tools). Empty means the
	// gateway's default. This key is an addition of this gateway.
	ToolExposure string `json:"tool_exposure,omitempty"`
	// EgressAfterInjection says what happens to calls of tools that may
	// reach the outside world (MCP annotation openWorldHint, true unless a
	// tool says false) once a tool result in the session was blocked for a
	// prompt injection: "block" (empty means block) or "allow".
	EgressAfterInjection string `json:"egress_after_injection,omitempty"`
	// MaxMessageBytes caps one message from an upstream server; a larger
	// reply is discarded and its call fails, while the server stays up. A
	// server entry's own max_message_bytes overrides it. Zero means
	// DefaultMaxMessageBytes (16 MiB). This key is an addition of this
	// gateway.
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
	// Sandbox holds the defaults of every server's sandbox; nil means no
	// server is sandboxed unless its own entry says so.
	Sandbox *SandboxDefaults `json:"sandbox,omitempty"`
	// DeniedTools lists tools no server may expose, in the format of
	// Server.DeniedTools; they apply to every server. Nil means none. This
	// key is an addition of this gateway.
	DeniedTools []DeniedTool `json:"denied_tools,omitzero"`

	kept extra
}

// DefaultMaxMessageBytes is the cap on one upstream message when neither the
// server entry nor the common config sets max_message_bytes.
const DefaultMaxMessageBytes = 16 << 20

// UpstreamMaxMessageBytes returns the cap on one message from server s: its
// own max_message_bytes, else the common one, else DefaultMaxMessageBytes.
func (c *Common) UpstreamMaxMessageBytes(s *Server) int {
	switch {
	case s != nil && s.MaxMessageBytes > 0:
		return s.MaxMessageBytes
	case c != nil && c.MaxMessageBytes > 0:
		return c.MaxMessageBytes
	}
	return DefaultMaxMessageBytes
}

// TimeoutSettings holds timeouts in seconds. A zero field means its default.
// Fields are omitted when zero so that a saved file never tells the Python
// gateway to use a zero timeout.
type TimeoutSettings struct {
	// Default is the fallback timeout; zero means DefaultTimeout.
	Default float64 `json:"default_timeout,omitempty"`
	// Guardrail bounds a guardrail call; zero means DefaultGuardrailTimeout.
	Guardrail float64 `json:"guardrail_timeout,omitempty"`
	// Auth bounds an auth or OAuth token call; zero means DefaultAuthTimeout.
	Auth float64 `json:"auth_timeout,omitempty"`
	// ToolExecution bounds an upstream tool call; zero means DefaultToolExecutionTimeout.
	ToolExecution float64 `json:"tool_execution_timeout,omitempty"`
	// Discovery bounds tool discovery; zero means DefaultDiscoveryTimeout.
	Discovery float64 `json:"discovery_timeout,omitempty"`
	// Cache bounds a cache operation; zero means DefaultCacheTimeout.
	Cache float64 `json:"cache_timeout,omitempty"`
	// Connectivity bounds a connectivity probe; zero means DefaultConnectivityTimeout.
	Connectivity float64 `json:"connectivity_timeout,omitempty"`
	// Escalation holds the log-escalation ratios.
	Escalation EscalationPolicies `json:"escalation_policies,omitzero"`

	kept extra
}

// EscalationPolicies holds elapsed/timeout ratios at which a slow operation
// is logged more loudly. Zero means the Python defaults 0.8, 1.0 and 1.2.
type EscalationPolicies struct {
	// Warn is the ratio from which a slow operation logs a warning.
	Warn float64 `json:"warn_threshold,omitempty"`
	// Timeout is the ratio labelled a timeout.
	Timeout float64 `json:"timeout_threshold,omitempty"`
	// Fail is the ratio labelled a failure.
	Fail float64 `json:"fail_threshold,omitempty"`

	kept extra
}

func seconds(v float64, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return time.Duration(v * float64(time.Second))
}

// DefaultTimeout returns the default timeout, or DefaultTimeout when unset.
func (t TimeoutSettings) DefaultTimeout() time.Duration { return seconds(t.Default, DefaultTimeout) }

// GuardrailTimeout returns the guardrail timeout, or DefaultGuardrailTimeout when unset.
func (t TimeoutSettings) GuardrailTimeout() time.Duration {
	return seconds(t.Guardrail, DefaultGuardrailTimeout)
}

// AuthTimeout returns the auth timeout, or DefaultAuthTimeout when unset.
func (t TimeoutSettings) AuthTimeout() time.Duration { return seconds(t.Auth, DefaultAuthTimeout) }

// ToolExecutionTimeout returns the tool timeout, or DefaultToolExecutionTimeout when unset.
func (t TimeoutSettings) ToolExecutionTimeout() time.Duration {
	return seconds(t.ToolExecution, DefaultToolExecutionTimeout)
}

// DiscoveryTimeout returns the discovery timeout, or DefaultDiscoveryTimeout when unset.
func (t TimeoutSettings) DiscoveryTimeout() time.Duration {
	return seconds(t.Discovery, DefaultDiscoveryTimeout)
}

// CacheTimeout returns the cache timeout, or DefaultCacheTimeout when unset.
func (t TimeoutSettings) CacheTimeout() time.Duration { return seconds(t.Cache, DefaultCacheTimeout) }

// ConnectivityTimeout returns the connectivity timeout, or DefaultConnectivityTimeout when unset.
func (t TimeoutSettings) ConnectivityTimeout() time.Duration {
	return seconds(t.Connectivity, DefaultConnectivityTimeout)
}

// Plugins is the plugins section. A nil plugin means the default provider.
type Plugins struct {
	// Auth is the auth provider, "local_apikey" by default.
	Auth *Plugin `json:"auth,omitempty"`
	// Guardrails is the remote guardrail provider, "enkrypt" by default.
	Guardrails *Plugin `json:"guardrails,omitempty"`
	// Telemetry is the telemetry provider, "opentelemetry" by default.
	Telemetry *Plugin `json:"telemetry,omitempty"`

	kept extra
}

// Plugin names a provider and its free-form settings. Config may hold
// secrets (API keys) and must not be logged.
type Plugin struct {
	// Provider is the provider name; empty means the default provider.
	Provider string `json:"provider,omitempty"`
	// Config is the provider's settings; nil means none.
	Config map[string]any `json:"config,omitzero"`

	kept extra
}

// MCPConfig is a named list of upstream servers, assigned to projects.
type MCPConfig struct {
	// Name is a human-readable name of the config.
	Name string `json:"mcp_config_name"`
	// Servers are the upstream servers; a nil list is written as [].
	Servers []*Server `json:"mcp_config"`

	kept extra
}

// Server returns the server with the given name, and whether it exists.
func (m *MCPConfig) Server(name string) (*Server, bool) {
	if m == nil {
		return nil, false
	}
	for _, s := range m.Servers {
		if s != nil && s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Server is one upstream MCP server entry.
type Server struct {
	// Name is the server's name, unique within its MCP config.
	Name string `json:"server_name"`
	// Description is shown to the client and may be checked by guardrails.
	Description string `json:"description"`
	// Config says how to reach the server: a command or a URL.
	Config ServerConfig `json:"config"`
	// Tools is the tool allow-list keyed by tool name; empty allows every tool.
	Tools map[string]json.RawMessage `json:"tools,omitzero"`
	// ToolPrefix overrides the prefix of re-exported tool names; nil means Name+"__".
	ToolPrefix *string `json:"tool_prefix,omitempty"`
	// EnableServerInfoValidation checks server descriptions; nil means true,
	// as in the Python gateway.
	EnableServerInfoValidation *bool `json:"enable_server_info_validation,omitempty"`
	// ToolGuardrailsPolicy checks tool definitions; nil means disabled.
	ToolGuardrailsPolicy *Policy `json:"tool_guardrails_policy,omitempty"`
	// InputGuardrailsPolicy checks tool arguments; nil means disabled.
	InputGuardrailsPolicy *Policy `json:"input_guardrails_policy,omitempty"`
	// OutputGuardrailsPolicy checks tool results; nil means disabled.
	OutputGuardrailsPolicy *Policy `json:"output_guardrails_policy,omitempty"`
	// DeniedTools are tools of this server that are never listed and
	// never callable, whatever the other settings say: names or globs, with
	// an optional reason (the Python gateway 2.2 format). The pattern "*"
	// denies every tool not named in Tools. Nil means none.
	DeniedTools []DeniedTool `json:"denied_tools,omitzero"`
	// OAuth configures tokens for the upstream; nil means no OAuth.
	OAuth *OAuthConfig `json:"oauth_config,omitempty"`
	// OAuthLogin configures a browser login (authorization code with PKCE)
	// to a remote server; nil means none. See OAuthLogin.
	OAuthLogin *OAuthLogin `json:"oauth,omitempty"`
	// ClientRequests says what happens to requests the upstream sends to
	// the client (sampling, elicitation, roots); nil forwards them all.
	ClientRequests *ClientRequests `json:"client_requests,omitempty"`
	// MaxMessageBytes caps one message from this server, overriding the
	// common config's max_message_bytes. Zero means the common value. This
	// key is an addition of this gateway.
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
	// Sandbox isolates and limits a stdio server; nil means the common
	// sandbox defaults decide (see EffectiveSandbox).
	Sandbox *Sandbox `json:"sandbox,omitempty"`
	// CreatedAt is a timestamp written by the CLI.
	CreatedAt string `json:"created_at,omitempty"`
	// UpdatedAt is a timestamp written by the CLI.
	UpdatedAt string `json:"updated_at,omitempty"`

	kept extra
}

// Prefix returns the prefix of the server's re-exported tool names: the
// ToolPrefix when set (possibly empty), else Name followed by "__".
func (s *Server) Prefix() string {
	if s.ToolPrefix != nil {
		return *s.ToolPrefix
	}
	return s.Name + "__"
}

// ToolAllowed reports whether the tool may be listed and called. An empty
// Tools map allows every tool; otherwise the tool must be a key of Tools and
// its value must not be an object with "enabled": false. (The Python gateway
// ignored the value, so a disabled tool stayed callable.)
func (s *Server) ToolAllowed(name string) bool {
	if len(s.Tools) == 0 {
		return true
	}
	raw, ok := s.Tools[name]
	if !ok {
		return false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return true // a description string or other non-object value
	}
	if v, ok := obj["enabled"]; ok && string(v) == "false" {
		return false
	}
	return true
}

// ServerConfig says how to reach an upstream: Command (stdio child) or URL
// (remote streamable HTTP or SSE), exactly one of them.
type ServerConfig struct {
	// Command is the executable of a stdio upstream.
	Command string `json:"command,omitempty"`
	// Args are the command's arguments. An empty list present in the file is kept.
	Args []string `json:"args,omitzero"`
	// Env is added to the child's environment. Its values may be secrets.
	Env map[string]string `json:"env,omitzero"`
	// URL is the endpoint of a remote upstream. This key is an addition of this gateway.
	URL string `json:"url,omitempty"`
	// Headers are sent to a remote upstream. Their values may be secrets.
	Headers map[string]string `json:"headers,omitzero"`

	kept extra
}

// ClientRequests is a server's policy for the requests it sends to the
// client through the gateway. Each field is "forward" or "deny"; empty means
// "forward". The gateway never answers such a request by itself.
type ClientRequests struct {
	// Sampling covers sampling/createMessage.
	Sampling string `json:"sampling,omitempty"`
	// Elicitation covers elicitation/create.
	Elicitation string `json:"elicitation,omitempty"`
	// Roots covers roots/list.
	Roots string `json:"roots,omitempty"`

	kept extra
}

// Policy is a guardrail policy of a server.
type Policy struct {
	// Enabled turns the policy on.
	Enabled bool `json:"enabled"`
	// PolicyName names the Enkrypt guardrail policy.
	PolicyName string `json:"policy_name,omitempty"`
	// AdditionalConfig holds detector switches such as pii_redaction.
	AdditionalConfig map[string]any `json:"additional_config,omitzero"`
	// Block lists the detectors whose findings block the call.
	Block []string `json:"block,omitzero"`

	kept extra
}

// OAuthConfig is a server's oauth_config, with the Python gateway's key
// names. It holds the client secret in plain text for file fidelity, so an
// OAuthConfig must never be logged or shown; use Redacted for that.
type OAuthConfig struct {
	// Enabled turns OAuth on for the server.
	Enabled bool `json:"enabled"`
	// IsRemote marks a remote server; nil means detect from the command.
	IsRemote *bool `json:"is_remote,omitempty"`
	// Version is "2.0" or "2.1"; empty means "2.0".
	Version string `json:"OAUTH_VERSION,omitempty"`
	// GrantType is client_credentials, authorization_code or refresh_token;
	// empty means client_credentials.
	GrantType string `json:"OAUTH_GRANT_TYPE,omitempty"`
	// ClientID is the OAuth client ID.
	ClientID string `json:"OAUTH_CLIENT_ID,omitempty"`
	// ClientSecret is the OAuth client secret, a secret.
	ClientSecret string `json:"OAUTH_CLIENT_SECRET,omitempty"`
	// TokenURL is the token endpoint; required when Enabled.
	TokenURL string `json:"OAUTH_TOKEN_URL,omitempty"`
	// AuthorizationURL is the authorization endpoint of the code flow.
	AuthorizationURL string `json:"OAUTH_AUTHORIZATION_URL,omitempty"`
	// RedirectURI is the redirect URI of the code flow.
	RedirectURI string `json:"OAUTH_REDIRECT_URI,omitempty"`
	// Audience is sent as the audience parameter when set.
	Audience string `json:"OAUTH_AUDIENCE,omitempty"`
	// Organization is sent as the organization parameter when set.
	Organization string `json:"OAUTH_ORGANIZATION,omitempty"`
	// Scope is the space-separated scope list; empty requests none.
	Scope string `json:"OAUTH_SCOPE,omitempty"`
	// Resource is the RFC 8707 resource indicator.
	Resource string `json:"OAUTH_RESOURCE,omitempty"`
	// UsePKCE turns on PKCE in the code flow.
	UsePKCE bool `json:"OAUTH_USE_PKCE,omitempty"`
	// CodeChallengeMethod is the PKCE method; empty means S256.
	CodeChallengeMethod string `json:"OAUTH_CODE_CHALLENGE_METHOD,omitempty"`
	// TokenExpiryBuffer is in seconds; zero means DefaultOAuthExpiryBuffer.
	TokenExpiryBuffer int `json:"OAUTH_TOKEN_EXPIRY_BUFFER,omitempty"`
	// UseBasicAuth selects client_secret_basic; nil means true.
	UseBasicAuth *bool `json:"OAUTH_USE_BASIC_AUTH,omitempty"`
	// EnforceHTTPS requires an https token URL; nil means true for version 2.1.
	EnforceHTTPS *bool `json:"OAUTH_ENFORCE_HTTPS,omitempty"`
	// TokenInHeaderOnly passes the token to the upstream only as a header.
	TokenInHeaderOnly bool `json:"OAUTH_TOKEN_IN_HEADER_ONLY,omitempty"`
	// ValidateScopes checks granted scopes; nil means true.
	ValidateScopes *bool `json:"OAUTH_VALIDATE_SCOPES,omitempty"`
	// UseMTLS authenticates to the token endpoint with a client certificate.
	UseMTLS bool `json:"OAUTH_USE_MTLS,omitempty"`
	// ClientCertPath is the PEM client certificate for mTLS.
	ClientCertPath string `json:"OAUTH_CLIENT_CERT_PATH,omitempty"`
	// ClientKeyPath is the PEM private key for mTLS.
	ClientKeyPath string `json:"OAUTH_CLIENT_KEY_PATH,omitempty"`
	// CABundlePath is a PEM CA bundle; empty means the system roots.
	CABundlePath string `json:"OAUTH_CA_BUNDLE_PATH,omitempty"`
	// RevocationURL is the RFC 7009 revocation endpoint.
	RevocationURL string `json:"OAUTH_REVOCATION_URL,omitempty"`
	// AdditionalParams are added to the token request form. Values may be secrets.
	AdditionalParams map[string]string `json:"OAUTH_ADDITIONAL_PARAMS,omitzero"`
	// CustomHeaders are added to the token request. Values may be secrets.
	CustomHeaders map[string]string `json:"OAUTH_CUSTOM_HEADERS,omitzero"`
	// State is the code flow's state parameter.
	State string `json:"OAUTH_STATE,omitempty"`
	// CodeVerifier is the PKCE verifier, a secret.
	CodeVerifier string `json:"OAUTH_CODE_VERIFIER,omitempty"`
	// CodeChallenge is the PKCE challenge.
	CodeChallenge string `json:"OAUTH_CODE_CHALLENGE,omitempty"`

	kept extra
}

// ExpiryBuffer returns TokenExpiryBuffer as a duration, or
// DefaultOAuthExpiryBuffer when it is zero or negative.
func (o *OAuthConfig) ExpiryBuffer() time.Duration {
	if o.TokenExpiryBuffer <= 0 {
		return DefaultOAuthExpiryBuffer
	}
	return time.Duration(o.TokenExpiryBuffer) * time.Second
}

// BasicAuth reports whether the client authenticates with HTTP basic auth
// (true unless OAUTH_USE_BASIC_AUTH is false).
func (o *OAuthConfig) BasicAuth() bool { return o.UseBasicAuth == nil || *o.UseBasicAuth }

// HTTPSRequired reports whether the token URL must be https: the value of
// OAUTH_ENFORCE_HTTPS, or true for OAuth 2.1 when it is absent.
func (o *OAuthConfig) HTTPSRequired() bool {
	if o.EnforceHTTPS != nil {
		return *o.EnforceHTTPS
	}
	return o.Version == "2.1"
}

// ScopesValidated reports whether granted scopes are checked (true unless
// OAUTH_VALIDATE_SCOPES is false).
func (o *OAuthConfig) ScopesValidated() bool { return o.ValidateScopes == nil || *o.ValidateScopes }

// Redacted returns a copy that is safe to show: the client secret, the PKCE
// code verifier, the state and the values of custom headers and additional
// params are replaced by "[REDACTED]" (the value of secret.Masked).
func (o *OAuthConfig) Redacted() *OAuthConfig {
	if o == nil {
		return nil
	}
	c := *o
	c.ClientSecret = mask(c.ClientSecret)
	c.CodeVerifier = mask(c.CodeVerifier)
	c.State = mask(c.State)
	c.AdditionalParams = maskValues(c.AdditionalParams)
	c.CustomHeaders = maskValues(c.CustomHeaders)
	c.kept = extra{} // unknown keys may hold secrets too
	return &c
}

// Project groups users and assigns them an MCP config.
type Project struct {
	// Name is the project's name.
	Name string `json:"project_name"`
	// MCPConfigID is the project's MCP config; empty means unassigned.
	MCPConfigID string `json:"mcp_config_id"`
	// Users lists the IDs of the project's users.
	Users []string `json:"users,omitzero"`
	// CreatedAt is a timestamp written by the CLI.
	CreatedAt string `json:"created_at,omitempty"`

	kept extra
}

// User is a person who holds gateway keys.
type User struct {
	// Email is the user's email address.
	Email string `json:"email"`
	// CreatedAt is a timestamp written by the CLI.
	CreatedAt string `json:"created_at,omitempty"`

	kept extra
}

// APIKey is the record of a gateway key.
type APIKey struct {
	// ProjectID is the project the key belongs to.
	ProjectID string `json:"project_id"`
	// UserID is the user the key belongs to.
	UserID string `json:"user_id"`
	// CreatedAt is a timestamp written by the CLI.
	CreatedAt string `json:"created_at,omitempty"`
	// Disabled refuses the key. (The Python gateway ignored this flag.)
	Disabled bool `json:"disabled,omitempty"`
	// DisabledAt is when the key was disabled.
	DisabledAt string `json:"disabled_at,omitempty"`
	// RotatedFrom identifies the key this one replaced.
	RotatedFrom string `json:"rotated_from,omitempty"`
	// InstalledFor says where install put the key ("<client>:<file>");
	// installing again there disables it. Empty means a key made otherwise.
	// This key is an addition of this gateway.
	InstalledFor string `json:"installed_for,omitempty"`

	kept extra
}
