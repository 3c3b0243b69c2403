package live

import (
	"context"
	"path/filepath"

	"github.com/rs/zerolog"

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
