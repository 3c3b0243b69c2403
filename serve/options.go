package serve

import (
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/internal/secret"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/upstream"
)

// Defaults of the HTTP mode (the CLI's flags start from them).
const (
	DefaultListen             = "127.0.0.1:8000"
	DefaultSessionIdleTimeout = 10 * time.Minute
	DefaultMaxSessionsPerKey  = 16
	DefaultMaxSessions        = 256
	DefaultMaxUpstreamProcs   = 1024
	DefaultRatePerKey         = 100.0 // requests per second
	DefaultBurstPerKey        = 200
	DefaultMaxBodyBytes       = 4 << 20
	DefaultShutdownGrace      = 10 * time.Second
	DefaultReadHeaderTimeout  = 10 * time.Second
)

// Options configure what every client session of a serving process shares,
// in stdio and HTTP mode alike. The hooks let the caller supply the parts
// the CLI composes (guardrails, sandboxes, the discovery cache) without
// serve depending on it.
type Options struct {
	// Config is the loaded gateway config. Required.
	Config *config.Config
	// ConfigPath is the file Config was loaded from. Required: OAuth token
	// caches sit beside it, login hints name it, and HTTP mode re-reads it
	// when it changes.
	ConfigPath string
	// ConfigOptions are passed to config.Load when HTTP mode re-reads
	// ConfigPath (the detector table, say). Empty: config.Load's checks only.
	ConfigOptions []config.Option
	// Logger receives the runtime's logs; it should already scrub
	// Redactor's secrets (see NewLogWriter). Nil: zerolog.Nop().
	Logger *zerolog.Logger
	// Redactor holds every secret the process knows (see Secrets); OAuth
	// tokens are added to it as they are fetched, and every upstream's
	// stderr and error text passes through it. Nil: an empty one.
	Redactor *secret.Redactor
	// Version is the serverInfo version clients see. Empty: "dev".
	Version string
	// Supervisor is the command (executable and arguments) that stdio
	// upstreams are started under so that they die with the gateway, as in
	// upstream.Options.Supervisor. Nil: upstreams are started directly.
	Supervisor []string
	// RelistInterval is proxy.Options.RelistInterval: how old an upstream's
	// tool list may get before a call lists it again. Zero:
	// proxy.DefaultRelistInterval; negative: only on list_changed.
	RelistInterval time.Duration

	// Guard builds the guardrail engine of one session of principal; al is
	// the audit log (nil when it is off), which hears of definitions that
	// differ from their pins. Nil: sessions run without guardrails.
	Guard func(principal *authn.Principal, log *zerolog.Logger, al *audit.Log) proxy.Guard
	// Instructions returns the initialize instructions of a session of
	// principal (a warning about unusable guardrail providers, say). Nil
	// or an empty result: proxy.DefaultInstructions.
	Instructions func(principal *authn.Principal) string
	// Sandbox turns a stdio server's entry and the config's sandbox
	// defaults into the sandbox its process runs in. Nil: no server is
	// sandboxed.
	Sandbox func(s *config.Server, defaults *config.SandboxDefaults) *upstream.Sandbox
	// OpenToolCache opens the discovery cache every session shares; it is
	// closed when serving ends. An error is logged as a warning and every
	// upstream is then listed live. Nil: no discovery cache.
	OpenToolCache func(log *zerolog.Logger) (*cache.Store, error)
	// SharedState is the Redis that replicas share state through (tool
	// pins, OAuth tokens): the one the config's enkrypt_cache_* settings
	// name. Nil: every such state is local to this process and the files
	// beside the config.
	SharedState *cache.Shared
}

// HTTPOptions configure HTTP mode: one gateway process for many users.
// The CLI's flags fill them from the Default… constants; a zero field means
// what its comment says.
type HTTPOptions struct {
	Options
	// Listen is the TCP address to listen on. Empty: DefaultListen. An
	// address that is not loopback needs TLSCert and TLSKey, or
	// InsecureListen.
	Listen string
	// TLSCert and TLSKey are the certificate and key files; both or
	// neither. Empty: plain HTTP.
	TLSCert, TLSKey string
	// InsecureListen allows plain HTTP on a non-loopback address (a TLS
	// proxy sits in front).
	InsecureListen bool
	// AllowedOrigins are browser Origins allowed besides the listener's
	// own. Empty: only same-origin browser requests.
	AllowedOrigins []string
	// SessionIdleTimeout closes a session (and reaps its upstreams) after
	// this long without requests. Zero: sessions never idle out.
	SessionIdleTimeout time.Duration
	// MaxSessionsPerKey caps the open sessions of one gateway key. Zero: no cap.
	MaxSessionsPerKey int
	// MaxSessions caps the open sessions across keys. Zero: no cap.
	MaxSessions int
	// MaxUpstreamProcesses caps the upstream processes the open sessions
	// may run (each session counts its stdio servers). Zero: no cap.
	MaxUpstreamProcesses int
	// RateLimit is the requests per second allowed per gateway key (a
	// token bucket of RateBurst). Zero: DefaultRatePerKey.
	RateLimit float64
	// RateBurst is the token bucket size per key. Zero: DefaultBurstPerKey.
	RateBurst int
	// MaxBodyBytes is the largest request body accepted. Zero:
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ShutdownGrace is how long in-flight requests may finish once the
	// context is cancelled. Zero: they are cut at once.
	ShutdownGrace time.Duration
	// DrainDelay is how long, once the context is cancelled, /readyz
	// answers 503 while requests are still served, so that a load
	// balancer's health check takes the replica out before it stops
	// accepting. Zero: it stops accepting at once.
	DrainDelay time.Duration
}

// OptionError is an option serving refuses (a listen address, a TLS pair,
// an allowed origin): the caller's input is at fault. Its text names the
// CLI flag of the option.
type OptionError struct {
	Option string // the option's flag name, without dashes
	Err    error
}

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// ConfigError is a part of the config the gateway cannot serve with (an
// audit log that is switched on but cannot be opened): serving stops before
// it starts rather than run without what the config asks for.
type ConfigError struct {
	Err error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
