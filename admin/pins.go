package admin

import (
	"context"
	"path/filepath"
	"time"

	"secure-mcp-gateway/guard"
)

// PinFile is the tool-pin state file beside the config file.
func (s *Store) PinFile() string { return filepath.Join(filepath.Dir(s.path), guard.PinFileName) }

// Pins returns the pinned tool definitions and their pending changes.
func (s *Store) Pins(ctx context.Context) (*guard.Pins, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return guard.LoadPins(s.PinFile())
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
	if err := ctx.Err(); err != nil {
		return err
	}
	found := false
	err := guard.UpdatePins(s.PinFile(), func(p *guard.Pins) error {
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
