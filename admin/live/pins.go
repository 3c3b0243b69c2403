package live

import (
	"context"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/cache"
	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/internal/config"
)

// PinStore is where the tool pins of the config file at path live: in the
// Redis replicas share (mirrored to the file beside the config) when shared
// is not nil, else in that file alone.
func PinStore(path string, shared *cache.Shared) guard.PinStore {
	local := guard.FilePins(filepath.Join(filepath.Dir(path), guard.PinFileName))
	if shared == nil {
		return local
	}
	return guard.SharedPins{Doc: shared, Local: local}
}

// pinOpener opens the pin state of the config file at path for the admin
// operations: shared in Redis when the config names one.
type pinOpener struct {
	path string
	log  *zerolog.Logger
}

// OpenPins implements admin.PinOpener.
func (o pinOpener) OpenPins(_ context.Context, c *config.Config) (guard.PinStore, func(), error) {
	ro := cache.RedisFromConfig(&c.Common)
	if ro == nil {
		return PinStore(o.path, nil), func() {}, nil
	}
	sh := cache.NewShared(ro, *o.log)
	return PinStore(o.path, sh), func() { _ = sh.Close() }, nil
}

// keyRevoker shares key revocations through the Redis the config names.
type keyRevoker struct{ log *zerolog.Logger }

// ShareRevocations implements admin.KeyRevoker.
func (k keyRevoker) ShareRevocations(ctx context.Context, c *config.Config, revoke, restore []string) error {
	ro := cache.RedisFromConfig(&c.Common)
	if ro == nil {
		return nil
	}
	sh := cache.NewShared(ro, *k.log)
	defer sh.Close()
	err := sh.Update(ctx, authn.RevocationsKey, 0, func(old []byte) ([]byte, error) {
		r, err := authn.DecodeRevocations(old)
		if err != nil {
			// An unreadable list is replaced: every replica fails closed on
			// it meanwhile, and this write holds the config's current view.
			r, _ = authn.DecodeRevocations(nil)
		}
		r.Apply(revoke, restore, time.Now())
		return json.Marshal(r)
	})
	if err != nil {
		return &admin.UnsharedError{What: "key revocation", Where: "Redis " + sh.Addr(), Err: err}
	}
	return nil
}
