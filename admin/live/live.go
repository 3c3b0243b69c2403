// Package live binds the admin operations to the gateway's runtime
// packages: admin.Runtime's discovery cache (package cache), OAuth token
// cache (package oauthx) and upstream probe (package upstream). Package
// admin declares what it needs as small interfaces and never imports
// these; the CLI and the admin API get them from here.
package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/oauthx"
	"secure-mcp-gateway/upstream"
)

// Runtime is what the admin operations reach beyond the config file at
// path: the discovery cache, the OAuth token cache, the tool pins and the
// upstreams.
func Runtime(path string, log *zerolog.Logger) admin.Runtime {
	tokens := tokenKeeper{path: path, log: log}
	return admin.Runtime{Cache: cacheOpener{path: path, log: log}, Tokens: tokens, SharedTokens: tokens, Probe: upstreamProber{},
		Pins: pinOpener{path: path, log: log}, Keys: keyRevoker{log: log}}
}

// OpenToolCache builds the discovery cache from the config's common
// settings: a persistent store beside the config file at path, and Redis
// when enkrypt_mcp_use_external_cache is set.
func OpenToolCache(cfg *config.Config, path string, log *zerolog.Logger) (*cache.Store, error) {
	c := cfg.Common
	opts := &cache.Options{
		Dir:     filepath.Join(filepath.Dir(path), cache.DefaultDirName),
		ToolTTL: time.Duration(c.ToolCacheExpiration * float64(time.Hour)),
		Logger:  log,
	}
	opts.Redis = cache.RedisFromConfig(&c)
	store, err := cache.New(opts)
	if err != nil {
		return nil, fmt.Errorf("open discovery cache: %w", err)
	}
	return store, nil
}

// toolCache is the discovery cache as the admin operations see it.
type toolCache struct{ store *cache.Store }

// cacheOpener opens the discovery cache of the config file at path for the
// admin operations.
type cacheOpener struct {
	path string
	log  *zerolog.Logger
}

// OpenCache implements admin.CacheOpener.
func (o cacheOpener) OpenCache(_ context.Context, c *config.Config) (admin.ToolCache, error) {
	st, err := OpenToolCache(c, o.path, o.log)
	if err != nil {
		return nil, err
	}
	return toolCache{st}, nil
}

func (t toolCache) Tiers() []string {
	var out []string
	for _, tier := range t.store.Tiers() {
		out = append(out, tierName(tier))
	}
	return out
}

// tierName is a cache tier's name in admin results.
func tierName(t cache.Tier) string {
	if t == cache.TierMemory {
		return admin.MemoryTier
	}
	return string(t)
}

func (t toolCache) Inspect(ctx context.Context, configID string, s *config.Server) []admin.CachedCopy {
	var out []admin.CachedCopy
	for _, f := range t.store.Inspect(ctx, cache.Key(configID, s)) {
		out = append(out, admin.CachedCopy{Tier: tierName(f.Tier), StoredAt: f.Entry.StoredAt, ExpiresAt: f.Entry.ExpiresAt,
			Tools: f.Entry.ToolCount(), Usable: f.Usable})
	}
	return out
}

func (t toolCache) Clear(ctx context.Context, server string) (int, error) {
	return t.store.Clear(ctx, server)
}

func (t toolCache) ClearServer(ctx context.Context, configID string, s *config.Server) (bool, error) {
	return t.store.ClearTools(ctx, configID, s)
}

func (t toolCache) Close() error { return t.store.Close() }

// tokenKeeper reads and revokes the OAuth tokens cached beside the config
// file at path, and the client-credentials tokens replicas share through
// the Redis the config names, for the admin operations.
type tokenKeeper struct {
	path string
	log  *zerolog.Logger
}

var (
	_ admin.TokenKeeper       = tokenKeeper{}
	_ admin.SharedTokenReader = tokenKeeper{}
)

func (k tokenKeeper) options(c *config.Config) *oauthx.Options {
	return &oauthx.Options{
		CacheFile: oauthx.CachePath(k.path),
		Transport: upstream.NewHTTPTransport(c.Common.Timeouts.ConnectivityTimeout()),
		CheckURL:  upstream.CheckURL,
		Timeout:   c.Common.Timeouts.AuthTimeout(),
	}
}

// Token implements admin.TokenKeeper.
func (k tokenKeeper) Token(_ context.Context, kind admin.TokenKind, configName string, s *config.Server) (admin.TokenState, error) {
	file := oauthx.CachePath(k.path)
	if kind == admin.TokenClientCredentials {
		st, err := oauthx.Inspect(file, s.Name, s.OAuth)
		return admin.TokenState{Cached: st.Cached, Fingerprint: st.Fingerprint, Scope: st.Scope, Obtained: st.Obtained, Expiry: st.Expiry}, err
	}
	st, err := oauthx.InspectLogin(file, s.Name, s.Config.URL)
	return admin.TokenState{Cached: st.Cached, Fingerprint: st.Fingerprint, Scope: st.Scope, Obtained: st.Obtained, Expiry: st.Expiry,
		Issuer: st.Issuer, Refreshable: st.Refreshable, StepUp: st.StepUp,
		LoginCommand: oauthx.LoginTarget(s, configName, k.path).Command}, err
}

// SharedToken implements admin.SharedTokenReader: it reads the entry the
// replicas share in the Redis c names (oauthx.InspectShared, which alone
// knows how it is sealed).
func (k tokenKeeper) SharedToken(ctx context.Context, c *config.Config, s *config.Server) (admin.SharedTokenState, bool, error) {
	ro := cache.RedisFromConfig(&c.Common)
	if ro == nil {
		return admin.SharedTokenState{}, false, nil
	}
	log := zerolog.Nop()
	if k.log != nil {
		log = *k.log
	}
	sh := cache.NewShared(ro, log)
	defer sh.Close()
	out := admin.SharedTokenState{Store: sh.Addr()}
	st, err := oauthx.InspectShared(ctx, sh, s.Name, s.OAuth)
	var down *cache.UnavailableError
	switch {
	case errors.Is(err, oauthx.ErrNotShared):
		out.NotShared = true
	case errors.Is(err, oauthx.ErrSharedUnreadable):
		out.Found, out.Unreadable = true, true
	case errors.As(err, &down):
		return out, true, fmt.Errorf("%w: %w", admin.ErrSharedUnreachable, err)
	case err != nil:
		return out, true, err
	default:
		out.Found, out.Fingerprint, out.Scope, out.Obtained, out.Expiry = st.Found, st.Fingerprint, st.Scope, st.Obtained, st.Expiry
	}
	return out, true, nil
}

// Revoke implements admin.TokenKeeper.
func (k tokenKeeper) Revoke(ctx context.Context, c *config.Config, kind admin.TokenKind, configName string, s *config.Server) (bool, error) {
	if kind == admin.TokenClientCredentials {
		opts := k.options(c)
		if ro := cache.RedisFromConfig(&c.Common); ro != nil {
			log := zerolog.Nop()
			if k.log != nil {
				log = *k.log
			}
			sh := cache.NewShared(ro, log)
			defer sh.Close()
			opts.Shared = sh // every replica fetches anew
		}
		src, err := oauthx.New(s.Name, s.OAuth, opts)
		if err != nil {
			return false, err
		}
		had, err := src.Revoke(ctx)
		var unshared *cache.UnavailableError
		if errors.Is(err, oauthx.ErrNoRevocationURL) && !errors.As(err, &unshared) {
			err = fmt.Errorf("%w: %w", admin.ErrNotRevocable, err)
		}
		return had, err
	}
	had, err := oauthx.NewLoginSource(oauthx.LoginTarget(s, configName, k.path), k.options(c)).Revoke(ctx)
	if errors.Is(err, oauthx.ErrRevocationNotAdvertised) {
		err = fmt.Errorf("%w: %w", admin.ErrNotRevocable, err)
	}
	return had, err
}

// upstreamProber checks that a server can be reached without running a
// session: a remote server must answer an HTTP request (any status), a
// stdio server's command must resolve to an executable file. Nothing is
// started, and no header, env value, URL credential or query is sent or
// shown.
type upstreamProber struct{}

// Probe implements admin.Prober.
func (upstreamProber) Probe(ctx context.Context, c *config.Config, s *config.Server) (string, error) {
	if s.Config.URL != "" {
		return probeURL(ctx, c, s.Config.URL)
	}
	if sb := config.EffectiveSandbox(s, c.Common.Sandbox); sb != nil && sb.Enabled && sb.Runtime != config.SandboxBwrap {
		return "", &admin.SkipError{Reason: fmt.Sprintf("runs in a %s sandbox, where its command may live in the image: not checked without starting it", cmp.Or(sb.Runtime, config.SandboxAuto))}
	}
	return probeCommand(s)
}

// probeURL sends HEAD to the server's URL, stripped of credentials, query
// and fragment, through the gateway's SSRF-checked transport; any HTTP
// answer means the server is reachable.
func probeURL(ctx context.Context, c *config.Config, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("server_url does not parse as a URL")
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	shown := admin.ShownEndpoint(u.String())
	if err := upstream.CheckURL(u); err != nil {
		return "", err
	}
	tr := upstream.NewHTTPTransport(c.Common.Timeouts.ConnectivityTimeout())
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return "", errors.New("server_url cannot be requested")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its text repeats the URL; the cause alone names no secret
			err = ue.Err
		}
		return "", fmt.Errorf("%s: no HTTP answer: %w", shown, err)
	}
	resp.Body.Close()
	return fmt.Sprintf("%s answered HTTP %d", shown, resp.StatusCode), nil
}

// probeCommand finds a stdio server's command as the upstream would: a
// path as given, a bare name in the PATH the server gets (its env's PATH,
// else the gateway's).
func probeCommand(s *config.Server) (string, error) {
	name := s.Config.Command
	if name == "" {
		return "", errors.New("no command")
	}
	candidates := []string{name}
	if !strings.ContainsAny(name, `/\`) {
		path, ok := s.Config.Env["PATH"]
		if !ok {
			path = os.Getenv("PATH")
		}
		candidates = nil
		for _, dir := range filepath.SplitList(path) {
			if dir != "" {
				candidates = append(candidates, filepath.Join(dir, name))
			}
		}
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && (runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0) {
			return "command " + p + " is executable (not started)", nil
		}
	}
	if len(candidates) == 1 && candidates[0] == name {
		return "", fmt.Errorf("command %s is not an executable file", name)
	}
	return "", fmt.Errorf("command %q is not on the server's PATH", name)
}
