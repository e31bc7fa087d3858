package backup

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/lease/leasepb"
)

// leaseAsker is the part of etcd's client that tells a lease's TTLs.
type leaseAsker interface {
	TimeToLive(ctx context.Context, id clientv3.LeaseID, opts ...clientv3.LeaseOption) (*clientv3.LeaseTimeToLiveResponse, error)
}

// maxKnownLeases bounds the leases remembered per chain. Past it the memory
// starts afresh: recording a lease twice in a chain is harmless.
const maxKnownLeases = 100_000

// leaseTimeout bounds one question to etcd about a lease.
const leaseTimeout = 5 * time.Second

// leaseRecorder finds the leases a chain has not recorded yet and asks etcd
// about them, so a restore can grant them again with their TTLs.
type leaseRecorder struct {
	etcd  leaseAsker
	known map[int64]bool
}

// reset forgets the recorded leases: a new chain starts.
func (r *leaseRecorder) reset() { r.known = nil }

// missing returns the leases the events attach keys to that the chain has
// not recorded, each once.
func (r *leaseRecorder) missing(events []*mvccpb.Event) []int64 {
	var ids []int64
	for _, ev := range events {
		id := ev.Kv.Lease
		if id == 0 || r.known[id] {
			continue
		}
		dup := false
		for _, seen := range ids {
			dup = dup || seen == id
		}
		if !dup {
			ids = append(ids, id)
		}
	}
	return ids
}

// lookup asks etcd for a lease's granted and remaining TTL. A lease that has
// expired or been revoked since the event (etcd answers TTL -1) is recorded
// with its granted TTL when etcd still knows it, else 1 second, and a
// remaining TTL of 1 second: it ended before the question, so soon after the
// event, and the deletions its end caused follow in the history. A restore
// to a point before those deletions then holds the keys with a lease about
// to expire, as the original did.
func (r *leaseRecorder) lookup(ctx context.Context, id int64) (*leasepb.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, leaseTimeout)
	defer cancel()
	resp, err := r.etcd.TimeToLive(ctx, clientv3.LeaseID(id))
	if err != nil {
		return nil, fmt.Errorf("ask etcd about lease %x: %w", id, err)
	}
	l := &leasepb.Lease{ID: id, TTL: resp.GrantedTTL, RemainingTTL: resp.TTL}
	if resp.TTL < 1 {
		l.TTL, l.RemainingTTL = max(resp.GrantedTTL, 1), 1
	}
	return l, nil
}

// recorded notes that the chain now holds the lease.
func (r *leaseRecorder) recorded(id int64) {
	if r.known == nil || len(r.known) >= maxKnownLeases {
		r.known = map[int64]bool{}
	}
	r.known[id] = true
}
