package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"secure-mcp-gateway/internal/atomicfile"
)

// DefaultBackups is how many backups of the config file Save and Update keep.
const DefaultBackups = 10

// backupTimeFormat is the Python gateway's backup suffix layout.
const backupTimeFormat = "20060102_150405"

// ErrInsecurePermissions is wrapped by Load and Update when the config file
// can be written by its group or by everyone.
var ErrInsecurePermissions = errors.New("config file is group- or world-writable")

// FileError is a problem with a config file, naming the file. It wraps the
// underlying error: fs.ErrNotExist, ErrInsecurePermissions, a *SyntaxError or
// a *ValidationError.
type FileError struct {
	Path string
	Err  error
}

// Error implements error as "config file <path>: <problem>".
func (e *FileError) Error() string { return "config file " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// Load reads, parses and validates the config file at path. It refuses a
// file that its group or others can write, since anyone who can write it can
// grant themselves a gateway key.
func Load(path string, opts ...Option) (*Config, error) {
	c, _, err := read(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(opts...); err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return c, nil
}

// read reads and parses path, returning the config and the raw bytes.
func read(path string) (*Config, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &FileError{Path: path, Err: fmt.Errorf(
				"%w\nhint: run \"secure-mcp-gateway generate-config\" or pass --config PATH", fs.ErrNotExist)}
		}
		return nil, nil, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, &FileError{Path: path, Err: err}
	}
	if st.IsDir() {
		return nil, nil, &FileError{Path: path, Err: errors.New("is a directory\nhint: pass the path of the JSON file")}
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o022 != 0 {
		return nil, nil, &FileError{Path: path, Err: fmt.Errorf("%w: mode %04o\nhint: chmod 600 %s",
			ErrInsecurePermissions, st.Mode().Perm(), path)}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, &FileError{Path: path, Err: err}
	}
	c, err := Parse(data)
	if err != nil {
		return nil, nil, &FileError{Path: path, Err: err}
	}
	return c, data, nil
}

// Save validates c and writes it to path atomically, under the lock that
// Update takes, after backing up any existing file. It overwrites whatever
// is at path, valid or not; the caller decides whether that is wanted. The
// directory is created with mode 0700 if missing.
func Save(path string, c *Config, opts ...Option) error {
	if c == nil {
		return &FileError{Path: path, Err: errors.New("nil config")}
	}
	if err := c.Validate(opts...); err != nil {
		return &FileError{Path: path, Err: err}
	}
	return withLock(path, func() error {
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &FileError{Path: path, Err: err}
		}
		return write(path, c, old)
	})
}

// Update changes the config file at path in place: it takes an exclusive
// lock on path+".lock", reads and parses the file, calls fn, validates the
// result, backs up the old file and writes the new one atomically. If the
// file is missing, malformed or insecure, or fn or validation fails, the
// file is left untouched and the error is returned.
func Update(path string, fn func(*Config) error, opts ...Option) error {
	return withLock(path, func() error {
		c, old, err := read(path)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return fmt.Errorf("update config file %s: %w", path, err)
		}
		if err := c.Validate(opts...); err != nil {
			return &FileError{Path: path, Err: err}
		}
		return write(path, c, old)
	})
}

// withLock runs fn holding the exclusive lock file path+".lock".
func withLock(path string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return &FileError{Path: path, Err: fmt.Errorf("create directory: %w", err)}
	}
	unlock, err := atomicfile.Lock(path + ".lock")
	if err != nil {
		return &FileError{Path: path, Err: fmt.Errorf("lock: %w", err)}
	}
	defer unlock()
	return fn()
}

// write marshals c, backs up old (if any) and replaces path atomically
// with a 0600 file.
func write(path string, c *Config, old []byte) error {
	data, err := Marshal(c)
	if err != nil {
		return &FileError{Path: path, Err: err}
	}
	if old != nil {
		if err := backup(path, old, time.Now()); err != nil {
			return &FileError{Path: path, Err: err}
		}
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return &FileError{Path: path, Err: err}
	}
	return nil
}

// backup writes old to <path>.bkp.YYYYmmdd_HHMMSS, adding .1, .2, … when
// that name is taken, then prunes backups beyond DefaultBackups.
func backup(path string, old []byte, now time.Time) error {
	stamp := now.Format(backupTimeFormat)
	base := path + ".bkp." + stamp
	// Continue after the highest sequence number of this second, so that a
	// new backup never sorts before one already kept (or pruned).
	list, err := listBackups(path)
	if err != nil {
		return err
	}
	n := 0
	for _, b := range list {
		if b.stamp == stamp {
			n = max(n, b.seq+1)
		}
	}
	for ; ; n++ {
		name := base
		if n > 0 {
			name += "." + strconv.Itoa(n)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create backup: %w", err)
		}
		_, werr := f.Write(old)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			os.Remove(name)
			return fmt.Errorf("write backup: %w", err)
		}
		break
	}
	return pruneBackups(path, DefaultBackups)
}

// backupName is a parsed backup file name, ordered by time then sequence.
type backupName struct {
	name  string
	stamp string
	seq   int
}

// listBackups returns the backups of path, oldest first.
func listBackups(path string) ([]backupName, error) {
	dir := filepath.Dir(path)
	prefix := filepath.Base(path) + ".bkp."
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []backupName
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		stamp, seqStr, hasSeq := strings.Cut(rest, ".")
		if _, err := time.Parse(backupTimeFormat, stamp); err != nil {
			continue
		}
		seq := 0
		if hasSeq {
			n, err := strconv.Atoi(seqStr)
			if err != nil || n < 1 {
				continue
			}
			seq = n
		}
		out = append(out, backupName{name: filepath.Join(dir, e.Name()), stamp: stamp, seq: seq})
	}
	slices.SortFunc(out, func(a, b backupName) int {
		if c := strings.Compare(a.stamp, b.stamp); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	return out, nil
}

// pruneBackups deletes all but the newest keep backups of path.
func pruneBackups(path string, keep int) error {
	list, err := listBackups(path)
	if err != nil {
		return err
	}
	var errs []error
	for len(list) > keep {
		if err := os.Remove(list[0].name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		list = list[1:]
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune backups: %w", err)
	}
	return nil
}
