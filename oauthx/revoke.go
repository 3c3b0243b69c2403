package oauthx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"secure-mcp-gateway/internal/secret"
)

// ErrNoRevocationURL is returned by [Source.Revoke] for a server without
// OAUTH_REVOCATION_URL; the local copies of its token are dropped anyway.
var ErrNoRevocationURL = errors.New("no OAUTH_REVOCATION_URL is configured")

// Revoke revokes the server's current token at the revocation endpoint (RFC
// 7009, token_type_hint=access_token, with the same client authentication as
// the token request) and drops it from memory, from the cache file and from
// the store shared by replicas (Options.Shared), so that every replica
// fetches a new one at its next check. It reports whether there was a token
// to revoke. Without a cached token nothing is sent. When the shared store
// cannot be reached the rest is done all the same and the error says the
// replicas' copy remains.
func (s *Source) Revoke(ctx context.Context) (bool, error) {
	if s.setupErr != nil {
		return false, s.setupErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var tok string
	var sharedErr error
	if s.shared != nil {
		// The shared token is the one every replica uses: it goes first.
		e, found, err := s.readShared(ctx)
		if err == nil && found {
			err = s.shared.Delete(ctx, s.sharedKey)
		}
		if err != nil {
			sharedErr = fmt.Errorf("revoke oauth token of server %q: the copy shared by replicas was not deleted: %w", s.server, err)
		} else if e != nil {
			tok = e.AccessToken
		}
	}
	if tok == "" && s.tok != nil {
		tok = s.tok.AccessToken
	}
	drop := func(f *cacheFile) (bool, error) {
		e := f.Tokens[s.key]
		if e == nil {
			return false, nil
		}
		if tok == "" {
			tok = e.AccessToken
		}
		delete(f.Tokens, s.key)
		return true, nil
	}
	if s.opts.CacheFile != "" {
		if err := withCache(s.opts.CacheFile, drop); err != nil {
			return false, fmt.Errorf("revoke oauth token of server %q: %w", s.server, err)
		}
	}
	s.tok, s.inShared = nil, false
	if tok == "" {
		return false, sharedErr
	}
	had, err := s.revokeAt(ctx, tok)
	return had, errors.Join(err, sharedErr)
}

// revokeAt revokes tok at the revocation endpoint. s.mu is held.
func (s *Source) revokeAt(ctx context.Context, tok string) (bool, error) {
	if s.cfg.RevocationURL == "" {
		return true, fmt.Errorf("revoke oauth token of server %q: %w", s.server, ErrNoRevocationURL)
	}
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	if !s.cfg.BasicAuth() {
		form.Set("client_id", s.cfg.ClientID)
		form.Set("client_secret", s.cfg.ClientSecret)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return true, fmt.Errorf("revoke oauth token of server %q: bad revocation URL %s", s.server, logURL(s.cfg.RevocationURL))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.cfg.BasicAuth() {
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return true, &TokenError{Server: s.server, Endpoint: logURL(s.cfg.RevocationURL), Problem: "the revocation endpoint is unreachable", Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return true, &TokenError{Server: s.server, Endpoint: logURL(s.cfg.RevocationURL), Status: resp.StatusCode,
			Problem: "the revocation endpoint answered " + resp.Status}
	}
	s.log.Info().Str("token", secret.Fingerprint(tok)).Msg("oauth token revoked")
	return true, nil
}
