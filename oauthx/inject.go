package oauthx

import (
	"context"
)

// Env returns the variables through which a local (stdio) upstream receives
// its token, named as in the Python gateway: ENKRYPT_ACCESS_TOKEN,
// OAUTH_ACCESS_TOKEN, OAUTH_TOKEN_TYPE, AUTHORIZATION, AUTH_HEADER,
// HTTP_HEADER_Authorization and HTTP_HEADER_AUTHORIZATION. It fetches a
// token if needed.
func (s *Source) Env(ctx context.Context) (map[string]string, error) {
	tok, err := s.TokenContext(ctx)
	if err != nil {
		return nil, err
	}
	bearer := "Bearer " + tok.AccessToken
	return map[string]string{
		"ENKRYPT_ACCESS_TOKEN":      tok.AccessToken,
		"OAUTH_ACCESS_TOKEN":        tok.AccessToken,
		"OAUTH_TOKEN_TYPE":          "Bearer",
		"AUTHORIZATION":             bearer,
		"AUTH_HEADER":               bearer,
		"HTTP_HEADER_Authorization": bearer,
		"HTTP_HEADER_AUTHORIZATION": bearer,
	}, nil
}
