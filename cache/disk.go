package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"secure-mcp-gateway/internal/atomicfile"
)

// diskStore keeps one JSON file per entry, named by its key, in dir. Files
// are written to a temporary file and renamed into place, so a reader sees a
// whole entry or none, and concurrent gateway processes need no lock: the
// last writer wins, and every version is a valid discovery.
type diskStore struct {
	dir string
}

const entrySuffix = ".json"

func (d *diskStore) path(key string) string { return filepath.Join(d.dir, key+entrySuffix) }

// get returns the entry under key; a missing file is (nil, nil).
func (d *diskStore) get(key string) (*Entry, error) {
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cache entry: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode cache entry %s: %w", filepath.Base(d.path(key)), err)
	}
	return &e, nil
}

func (d *diskStore) put(key string, e *Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode cache entry: %w", err)
	}
	if err := atomicfile.WriteFile(d.path(key), b, 0o600); err != nil {
		return fmt.Errorf("write cache entry: %w", err)
	}
	return nil
}

// clear removes the entries of server, or all entries when server is empty.
func (d *diskStore) clear(server string) (int, error) {
	des, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list cache directory: %w", err)
	}
	n := 0
	var errs []error
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(name, entrySuffix) {
			continue
		}
		key := strings.TrimSuffix(name, entrySuffix)
		if server != "" {
			e, err := d.get(key)
			if err == nil && (e == nil || e.Server != server) {
				continue // unreadable entries go whatever the filter
			}
		}
		if err := os.Remove(filepath.Join(d.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cache entry: %w", err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
