package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// PinStore keeps the pin state: a file beside the config (FilePins), or a
// document every replica shares (SharedPins).
type PinStore interface {
	// Load returns the current pin state.
	Load(ctx context.Context) (*Pins, error)
	// Update applies fn to the current state and stores the result
	// atomically; an error from fn stores nothing and is returned.
	Update(ctx context.Context, fn func(*Pins) error) error
	// Where names the store in messages: a file path, or Redis's address.
	Where() string
}

// FilePins is the pin state file at this path.
type FilePins string

// Load implements PinStore.
func (f FilePins) Load(ctx context.Context) (*Pins, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return LoadPins(string(f))
}

// Update implements PinStore.
func (f FilePins) Update(ctx context.Context, fn func(*Pins) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return UpdatePins(string(f), fn)
}

// Where implements PinStore.
func (f FilePins) Where() string { return string(f) }

// SharedDoc is the replica-shared document store SharedPins needs
// (cache.Shared implements it).
type SharedDoc interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Update(ctx context.Context, key string, ttl time.Duration, fn func(old []byte) ([]byte, error)) error
	Addr() string
}

// SharedPinsKey is the shared document holding the pin state.
const SharedPinsKey = "tool-pins"

// SharedPins keeps the pin state in a document every replica reads and
// updates atomically, so that a pin approved or a change seen on one
// replica holds on all of them. Each successful update is mirrored to
// Local. When the shared store fails (Redis down), Local serves instead:
// this replica then pins and withholds on its own until Redis is back.
// The first update finding no shared document starts from Local's content,
// so pins made before Redis was configured carry over.
type SharedPins struct {
	Doc   SharedDoc
	Local FilePins
}

// Load implements PinStore.
func (s SharedPins) Load(ctx context.Context) (*Pins, error) {
	b, err := s.Doc.Get(ctx, SharedPinsKey)
	if err != nil || b == nil {
		return s.Local.Load(ctx)
	}
	return decodePins(b, "shared pin state in Redis "+s.Doc.Addr())
}

// Update implements PinStore.
func (s SharedPins) Update(ctx context.Context, fn func(*Pins) error) error {
	var (
		fnErr  error
		result *Pins
	)
	err := s.Doc.Update(ctx, SharedPinsKey, 0, func(old []byte) ([]byte, error) {
		var p *Pins
		var err error
		if old == nil {
			p, err = s.Local.Load(ctx)
		} else {
			p, err = decodePins(old, "shared pin state in Redis "+s.Doc.Addr())
		}
		if err != nil {
			fnErr = err
			return nil, err
		}
		if err := fn(p); err != nil {
			fnErr = err
			return nil, err
		}
		result = p
		return json.Marshal(p)
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		// Redis failed (cache.Shared has warned once for this outage).
		return s.Local.Update(ctx, fn)
	}
	// The mirror keeps the last shared state for an outage; failing to
	// write it loses nothing shared.
	_ = s.Local.Update(ctx, func(p *Pins) error {
		*p = *result
		return nil
	})
	return nil
}

// Where implements PinStore.
func (s SharedPins) Where() string {
	return "Redis " + s.Doc.Addr() + " (mirrored to " + string(s.Local) + ")"
}

func decodePins(b []byte, what string) (*Pins, error) {
	p := &Pins{}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("parse %s: %w", what, err)
	}
	if p.Servers == nil {
		p.Servers = map[string]map[string]*Pin{}
	}
	return p, nil
}
