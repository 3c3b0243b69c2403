package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"secure-mcp-gateway/internal/config"
)

// Options configure a Log. Zero fields take the defaults of config.Audit.
type Options struct {
	// Dir is the directory of the audit files; it is created 0700.
	Dir string
	// MaxFileBytes rotates a file before it grows past this size.
	MaxFileBytes int64
	// FsyncInterval is the longest a written record waits for an fsync.
	FsyncInterval time.Duration
	// FsyncEvery forces an fsync after this many records.
	FsyncEvery int
	// QueueSize bounds the records waiting to be written.
	QueueSize int
	// HMACKey signs every record when non-empty.
	HMACKey []byte
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// Log is an audit log being written by this process. Its methods are safe
// for concurrent use; Write never blocks on I/O.
type Log struct {
	o     Options
	queue chan Record
	done  chan struct{}

	mu     sync.RWMutex // guards closed against Write racing Close
	closed bool

	dropped atomic.Uint64
	written atomic.Uint64

	errMu sync.Mutex
	err   error

	// owned by the writer goroutine
	base    string // name prefix of this process's files
	part    int
	f       *os.File
	bw      *bufio.Writer
	name    string
	size    int64
	seq     uint64
	prev    string
	pending int
}

// Open starts the audit log described by cfg, with the HMAC key from the
// environment variable config.AuditHMACKeyEnv when it is set.
func Open(cfg config.Audit) (*Log, error) {
	dir, err := cfg.Dir()
	if err != nil {
		return nil, err
	}
	return New(Options{
		Dir:           dir,
		MaxFileBytes:  cfg.MaxFileBytes,
		FsyncInterval: time.Duration(cfg.FsyncIntervalMS) * time.Millisecond,
		FsyncEvery:    cfg.FsyncEvery,
		QueueSize:     cfg.QueueSize,
		HMACKey:       []byte(os.Getenv(config.AuditHMACKeyEnv)),
	})
}

// New starts an audit log: it creates this process's first file (named
// after the start time and pid, so concurrent processes never share a
// file), writes its genesis record and starts the writer.
func New(o Options) (*Log, error) {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = config.DefaultAuditMaxFileBytes
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = config.DefaultAuditFsyncIntervalMS * time.Millisecond
	}
	if o.FsyncEvery <= 0 {
		o.FsyncEvery = config.DefaultAuditFsyncEvery
	}
	if o.QueueSize <= 0 {
		o.QueueSize = config.DefaultAuditQueueSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dir == "" {
		return nil, errors.New("audit: no directory")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create directory: %w", err)
	}
	l := &Log{
		o:     o,
		queue: make(chan Record, o.QueueSize),
		done:  make(chan struct{}),
		base:  fmt.Sprintf("audit-%s-%d", o.Now().UTC().Format("20060102T150405.000000000Z"), os.Getpid()),
	}
	if err := l.openFile(""); err != nil {
		return nil, err
	}
	if err := l.sync(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// Write queues r. It never blocks: when the queue is full the record is
// dropped and counted, and a "dropped" record says how many once space
// returns. Write after Close drops r.
func (l *Log) Write(r Record) {
	if r.Time.IsZero() {
		r.Time = l.o.Now()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.queue <- r:
	default:
		l.dropped.Add(1)
	}
}

// Dropped returns how many records were lost to a full queue so far.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Written returns how many records reached the file (before fsync).
func (l *Log) Written() uint64 { return l.written.Load() }

// Dir returns the directory of the log's files.
func (l *Log) Dir() string { return l.o.Dir }

// Close writes every queued record and a signed close record, fsyncs and
// closes the file. It returns the first write error the log met.
func (l *Log) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	return l.Err()
}

// Err returns the first write error, if any.
func (l *Log) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *Log) fail(err error) {
	if err == nil {
		return
	}
	l.errMu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.errMu.Unlock()
}

func (l *Log) run() {
	defer close(l.done)
	t := time.NewTicker(l.o.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case r, ok := <-l.queue:
			if !ok {
				l.noteDropped()
				l.fail(l.append(Record{Kind: KindClose, Time: l.o.Now(), File: l.name, Count: l.seq + 1}))
				l.fail(l.sync())
				l.fail(l.f.Close())
				return
			}
			l.noteDropped()
			l.fail(l.append(r))
			if l.pending >= l.o.FsyncEvery {
				l.fail(l.sync())
			}
		case <-t.C:
			if l.pending > 0 {
				l.fail(l.sync())
			}
		}
	}
}

func (l *Log) noteDropped() {
	if n := l.dropped.Swap(0); n > 0 {
		l.fail(l.append(Record{Kind: KindDropped, Time: l.o.Now(), Count: n, Detail: "audit queue full"}))
	}
}

// openFile creates the next file of this process and writes its genesis.
func (l *Log) openFile(prevFile string) error {
	l.part++
	name := fmt.Sprintf("%s-%04d.jsonl", l.base, l.part)
	f, err := os.OpenFile(filepath.Join(l.o.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: create file: %w", err)
	}
	l.f, l.bw, l.name, l.size, l.seq = f, bufio.NewWriterSize(f, 64<<10), name, 0, 0
	// l.prev stays: a rotated file's genesis links to the last line of the
	// file before it.
	return l.writeLine(Record{Kind: KindGenesis, Time: l.o.Now(), File: name, PID: os.Getpid(), PrevFile: prevFile})
}

// append writes r, rotating first when the file would grow too large.
func (l *Log) append(r Record) error {
	if l.size > 0 && l.size+1024 > l.o.MaxFileBytes && r.Kind != KindClose {
		next := fmt.Sprintf("%s-%04d.jsonl", l.base, l.part+1)
		if err := l.writeLine(Record{Kind: KindClose, Time: l.o.Now(), File: l.name, NextFile: next, Count: l.seq + 1}); err != nil {
			return err
		}
		if err := l.sync(); err != nil {
			return err
		}
		if err := l.f.Close(); err != nil {
			return fmt.Errorf("audit: close file: %w", err)
		}
		if err := l.openFile(l.name); err != nil {
			return err
		}
	}
	return l.writeLine(r)
}

func (l *Log) writeLine(r Record) error {
	if l.size > 0 {
		l.seq++
	}
	r.Seq, r.Prev, r.HMAC = l.seq, l.prev, ""
	r.Time = r.Time.UTC()
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: encode record: %w", err)
	}
	line = sign(line, l.o.HMACKey)
	l.prev = HashBytes(line)
	if _, err := l.bw.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	l.size += int64(len(line)) + 1
	l.pending++
	l.written.Add(1)
	return nil
}

func (l *Log) sync() error {
	l.pending = 0
	if err := l.bw.Flush(); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: fsync: %w", err)
	}
	return nil
}
