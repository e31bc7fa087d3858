package datadir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
)

// walIDs are the cluster and member IDs a WAL was created with.
type walIDs struct {
	cluster, member types.ID
}

// walFile is a WAL segment named "<seq>-<first index>.wal".
type walFile struct {
	name       string
	seq, index uint64
}

// listWAL returns the WAL segments of walDir in sequence order, as etcd
// selects them (other files are ignored).
func listWAL(walDir string) ([]walFile, error) {
	entries, err := os.ReadDir(walDir)
	if err != nil {
		return nil, err
	}
	var files []walFile
	for _, e := range entries {
		var f walFile
		if !strings.HasSuffix(e.Name(), ".wal") {
			continue
		}
		if _, err := fmt.Sscanf(e.Name(), "%016x-%016x.wal", &f.seq, &f.index); err != nil {
			continue
		}
		f.name = e.Name()
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b walFile) int { return strings.Compare(a.name, b.name) })
	return files, nil
}

// readWALIDs decodes the metadata record at the start of the first WAL
// segment, without reading the rest.
func readWALIDs(walDir string) (walIDs, error) {
	files, err := listWAL(walDir)
	if err != nil {
		return walIDs{}, err
	}
	if len(files) == 0 {
		return walIDs{}, errors.New("no .wal files")
	}
	f, err := os.Open(filepath.Join(walDir, files[0].name))
	if err != nil {
		return walIDs{}, err
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	var rec walpb.Record
	// The metadata record follows the CRC record within the first few.
	for range 4 {
		if err := dec.Decode(&rec); err != nil {
			return walIDs{}, fmt.Errorf("%s: %w", files[0].name, err)
		}
		if rec.Type == wal.MetadataType {
			return decodeIDs(rec.Data)
		}
	}
	return walIDs{}, fmt.Errorf("%s: no metadata record at the start", files[0].name)
}

func decodeIDs(data []byte) (walIDs, error) {
	var md etcdserverpb.Metadata
	if err := md.Unmarshal(data); err != nil {
		return walIDs{}, fmt.Errorf("metadata record: %w", err)
	}
	return walIDs{cluster: types.ID(md.ClusterID), member: types.ID(md.NodeID)}, nil
}

// walReplay is what reading the WAL from a snapshot found, the way etcd
// reads it when it starts.
type walReplay struct {
	ids       walIDs
	hardState raftpb.HardState
	// lastIndex is the index of the last entry, or the snapshot's.
	lastIndex uint64
	// pending is an upper bound of the revisions the entries after the
	// db's consistent index add when they are applied.
	pending int64
	// tornTail is set when the last segment ends in a partly written
	// record, which etcd cuts off when it starts.
	tornTail bool
}

// walProblem is damage that etcd would refuse to start on.
type walProblem struct{ reason string }

func (p *walProblem) Error() string { return p.reason }

func walProblemf(format string, args ...any) error {
	return &walProblem{reason: fmt.Sprintf(format, args...)}
}

// replayWAL reads the WAL in walDir from the snapshot snap on, like etcd's
// ReadAll in write mode followed by its repair of a torn tail, but
// read-only: a partly written last record of the last segment is what a
// crash leaves and etcd cuts off, while a segment cut short before others
// follow, a checksum mismatch or a gap is damage (a *walProblem).
// appliedIndex is the db's consistent index: entries after it are counted
// into pending.
func replayWAL(walDir string, snap walpb.Snapshot, appliedIndex uint64) (walReplay, error) {
	files, err := listWAL(walDir)
	if err != nil {
		return walReplay{}, err
	}
	from := -1
	for i := len(files) - 1; i >= 0; i-- {
		if snap.Index >= files[i].index {
			from = i
			break
		}
	}
	if from < 0 {
		return walReplay{}, walProblemf("%s: no segment reaches back to the snapshot at index %d "+
			"(the oldest starts at %d)", walPath, snap.Index, firstIndex(files))
	}
	files = files[from:]
	for i := 1; i < len(files); i++ {
		if files[i].seq != files[i-1].seq+1 {
			return walReplay{}, walProblemf("%s: segment %s does not follow %s (a segment is missing)",
				walPath, files[i].name, files[i-1].name)
		}
	}

	r := replayer{snap: snap, applied: appliedIndex}
	for i, f := range files {
		last := i == len(files)-1
		if err := r.readSegment(filepath.Join(walDir, f.name), last); err != nil {
			return walReplay{}, err
		}
	}
	if !r.matched {
		return walReplay{}, walProblemf("%s: no record of the snapshot at index %d (term %d)",
			walPath, snap.Index, snap.Term)
	}
	out := r.out
	out.lastIndex = snap.Index + r.count
	for _, bumps := range r.bumps {
		if bumps {
			out.pending++
		}
	}
	if out.hardState.Commit > out.lastIndex {
		return walReplay{}, walProblemf("%s: committed index %d is beyond the last entry %d: "+
			"the log was truncated or lost", walPath, out.hardState.Commit, out.lastIndex)
	}
	return out, nil
}

func firstIndex(files []walFile) uint64 {
	if len(files) == 0 {
		return 0
	}
	return files[0].index
}

// replayer follows the records of consecutive segments.
type replayer struct {
	snap    walpb.Snapshot
	applied uint64
	out     walReplay
	matched bool
	haveIDs bool
	// count is how many entries follow the snapshot.
	count uint64
	// bumps tells, for each entry after the applied index, whether
	// applying it may add a revision.
	bumps []bool
	// prevCRC is the running checksum at the end of the previous segment;
	// the next one must start from it.
	prevCRC uint32
	seen    bool
}

func (r *replayer) readSegment(path string, last bool) error {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	var rec walpb.Record
	first := true
	for {
		err := dec.Decode(&rec)
		switch {
		case errors.Is(err, io.EOF):
			r.prevCRC, r.seen = dec.LastCRC(), true
			return nil
		case errors.Is(err, io.ErrUnexpectedEOF) && last:
			// A crash in the middle of a write; etcd truncates it.
			r.out.tornTail = true
			return nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return walProblemf("%s/%s: cut short in the middle of a record at offset %d, and later segments follow",
				walPath, name, dec.LastOffset())
		case err != nil:
			return walProblemf("%s/%s: at offset %d: %v", walPath, name, dec.LastOffset(), err)
		}
		if first && rec.Type == wal.CrcType && r.seen && rec.Crc != r.prevCRC {
			return walProblemf("%s/%s: does not continue the checksum of the segment before it", walPath, name)
		}
		first = false
		if err := r.record(dec, &rec); err != nil {
			return walProblemf("%s/%s: %v", walPath, name, err)
		}
	}
}

func (r *replayer) record(dec wal.Decoder, rec *walpb.Record) error {
	switch rec.Type {
	case wal.EntryType:
		var e raftpb.Entry
		if err := e.Unmarshal(rec.Data); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
		if e.Index <= r.snap.Index {
			return nil
		}
		offset := e.Index - r.snap.Index - 1
		if offset > r.count {
			return fmt.Errorf("entry %d follows entry %d: entries are missing", e.Index, r.snap.Index+r.count)
		}
		// A later entry at an index replaces the earlier one and all
		// after it, as in etcd.
		r.count = offset + 1
		if e.Index <= r.applied {
			r.bumps = r.bumps[:0]
			return nil
		}
		at := e.Index - r.applied - 1
		for uint64(len(r.bumps)) < at {
			// Entries the WAL does not hold (a snapshot covers them):
			// they may have written.
			r.bumps = append(r.bumps, true)
		}
		r.bumps = append(r.bumps[:at], mayAddRevision(e))
	case wal.StateType:
		if err := r.out.hardState.Unmarshal(rec.Data); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	case wal.MetadataType:
		ids, err := decodeIDs(rec.Data)
		if err != nil {
			return err
		}
		if r.haveIDs && ids != r.out.ids {
			return errors.New("metadata records disagree")
		}
		r.out.ids, r.haveIDs = ids, true
	case wal.CrcType:
		if crc := dec.LastCRC(); crc != 0 && rec.Validate(crc) != nil {
			return errors.New("checksum record does not match")
		}
		dec.UpdateCRC(rec.Crc)
	case wal.SnapshotType:
		var s walpb.Snapshot
		if err := s.Unmarshal(rec.Data); err != nil {
			return fmt.Errorf("snapshot record: %w", err)
		}
		if s.Index == r.snap.Index {
			if s.Term != r.snap.Term {
				return fmt.Errorf("snapshot at index %d has term %d, the snap file term %d", s.Index, s.Term, r.snap.Term)
			}
			r.matched = true
		}
	default:
		return fmt.Errorf("unknown record type %d", rec.Type)
	}
	return nil
}

// mayAddRevision tells whether applying e can add a revision: a request
// that writes keys adds one, whatever it writes. When unsure it says yes,
// so that a directory is never taken for older than it is.
func mayAddRevision(e raftpb.Entry) bool {
	if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
		return false
	}
	var req etcdserverpb.InternalRaftRequest
	if err := req.Unmarshal(e.Data); err != nil {
		return true
	}
	switch {
	case req.Put != nil, req.DeleteRange != nil, req.LeaseRevoke != nil:
		return true
	case req.Txn != nil:
		return txnWrites(req.Txn)
	case req.Range != nil, req.Compaction != nil, req.LeaseGrant != nil, req.LeaseCheckpoint != nil,
		req.Alarm != nil, req.ClusterVersionSet != nil, req.ClusterMemberAttrSet != nil,
		req.DowngradeInfoSet != nil, req.Authenticate != nil:
		return false
	}
	return true
}

func txnWrites(t *etcdserverpb.TxnRequest) bool {
	for _, ops := range [][]*etcdserverpb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestPut() != nil, op.GetRequestDeleteRange() != nil:
				return true
			case op.GetRequestTxn() != nil && txnWrites(op.GetRequestTxn()):
				return true
			}
		}
	}
	return false
}
