package hook

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"secure-mcp-gateway/guard/detect"
	"secure-mcp-gateway/internal/config"
)

// detectors is detect's registry in config's terms: validation of a loaded
// config checks every block list against it, as every other command does.
var detectors = config.WithDetectors(&config.Detectors{Offline: detect.OfflineDetectors, Model: detect.ModelDetectors})

// LoadHooks loads and validates the config file at path and returns its
// hooks block. When optional is true (path is the default path, not one
// the user named), a missing file means the built-in defaults: nil and no
// error. Any other problem (unreadable, invalid, an unknown detector
// anywhere in the file) is an error; the file is never half read.
func LoadHooks(path string, optional bool) (*config.Hooks, error) {
	c, err := config.Load(path, detectors)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, errors.New(strings.TrimSpace(err.Error()))
	}
	return c.Hooks, nil
}

// Exec is a whole hook run for client: it compiles the hooks block (nil
// for the built-in defaults), reads one event from r, judges it and writes
// the answer to w. cfgErr is the error of reading the policy, if any: the
// event is then not judged and gets the fail mode's answer. Exec returns
// the process exit code and a message for stderr (empty for none). Both
// the gateway's `hook` command and the secure-mcp-gateway-hook binary run
// it, so their answers are the same.
func Exec(client string, hooks *config.Hooks, cfgErr error, r io.Reader, w io.Writer) (code int, stderr string) {
	h, err := New(client, hooks)
	if err != nil {
		var ve *config.ValidationError
		if !errors.As(err, &ve) {
			// An unknown client: there is no fail mode to apply.
			return 2, err.Error()
		}
		cfgErr = errors.Join(cfgErr, fmt.Errorf("hooks block: %w", err))
		// The fail mode still comes from the block when it names one.
		if h, err = New(client, &config.Hooks{FailMode: hooks.FailMode}); err != nil {
			h, _ = New(client, nil)
		}
	}
	if cfgErr != nil {
		// Without a readable policy the event cannot be judged: the fail
		// mode of the built-in defaults (or of the block) applies.
		return h.Fail("", fmt.Errorf("read the hooks policy: %w", cfgErr))
	}
	return h.Run(r, w)
}
