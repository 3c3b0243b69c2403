package admin

import (
	"context"
	"path/filepath"
	"time"

	"secure-mcp-gateway/guard"
)

// PinFile is the tool-pin state file beside the config file.
func (s *Store) PinFile() string { return filepath.Join(filepath.Dir(s.path), guard.PinFileName) }

// pinStore opens the pin state of the config: Runtime.Pins when set, else
// the file beside the config.
func (s *Store) pinStore(ctx context.Context) (guard.PinStore, func(), error) {
	if s.rt.Pins == nil {
		return guard.FilePins(s.PinFile()), func() {}, nil
	}
	c, err := s.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.rt.Pins.OpenPins(ctx, c)
}

// Pins returns the pinned tool definitions and their pending changes, and
// where they are kept.
func (s *Store) Pins(ctx context.Context) (*guard.Pins, string, error) {
	ps, closePins, err := s.pinStore(ctx)
	if err != nil {
		return nil, "", err
	}
	defer closePins()
	p, err := ps.Load(ctx)
	return p, ps.Where(), err
}

// ApprovePinRequest accepts a tool's changed definition as its new pin.
type ApprovePinRequest struct {
	Server string `json:"server"`
	Tool   string `json:"tool"`
}

// ApprovePin makes the pending definition of a tool its pin. A tool with no
// pending change is a NotFoundError of kind "changed definition".
func (s *Store) ApprovePin(ctx context.Context, req ApprovePinRequest) error {
	if req.Server == "" || req.Tool == "" {
		return &RequestError{Fields: []string{"server", "tool"}, Problem: ProblemMissing}
	}
	ps, closePins, err := s.pinStore(ctx)
	if err != nil {
		return err
	}
	defer closePins()
	found := false
	err = ps.Update(ctx, func(p *guard.Pins) error {
		found = p.Approve(req.Server, req.Tool, time.Now())
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return &NotFoundError{Kind: "changed definition", Name: req.Tool, In: "server " + req.Server}
	}
	return nil
}
