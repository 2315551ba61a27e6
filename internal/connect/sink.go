package connect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/control"
)

// dest is a sink's destination.
type dest interface {
	// open connects; the attempt fails with its error.
	open(ctx context.Context) error
	// deliver writes recs (in order). It returns the records the
	// destination refused, each with why (delivered none of them), or an
	// error when it could not deliver the batch at all (after its
	// retries): then nothing of it counts as delivered.
	deliver(ctx context.Context, recs []*kgo.Record) ([]rejected, error)
	close()
}

// rejected is a record the destination refused.
type rejected struct {
	rec *kgo.Record
	err error
}

// sink consumes its topics in consumer group connect-<connector id> and
// hands batches to its destination; offsets are committed only after a
// batch is delivered (or its refused records are in the dead-letter
// topic), so a failure or restart delivers them again: at least once.
type sink struct {
	w      *worker
	topics []string
	batch  int
	errs   control.ErrorsConfig
	dest   dest
}

// idlePoll is how long a poll waits for records before the sink checks
// whether it has caught up.
const idlePoll = 2 * time.Second

func (s *sink) group() string {
	return "connect-" + control.ConnectorID(s.w.spec.ClusterID, s.w.spec.Connector.Name)
}

func (s *sink) run(ctx context.Context, kafka []kgo.Opt) error {
	cl, err := openKafka(ctx, kafka,
		kgo.ConsumerGroup(s.group()), kgo.ConsumeTopics(s.topics...), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer func() {
		// Leave the group quickly even when the brokers are gone.
		lctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = cl.LeaveGroupContext(lctx)
		cl.Close()
	}()
	if err := s.dest.open(ctx); err != nil {
		return err
	}
	defer s.dest.close()
	if !s.w.isFailed() {
		s.w.ok(ctx)
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, idlePoll)
		fetches := cl.PollRecords(pctx, s.batch)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			return fmt.Errorf("read topic %s: %w", fe.Topic, fe.Err)
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			if s.w.isFailed() {
				if done, err := caughtUp(ctx, cl, s.group(), s.topics); err == nil && done {
					s.w.ok(ctx)
				}
			}
			continue
		}
		s.w.counted(int64(len(recs)), 0, 0)
		refused, err := s.dest.deliver(ctx, recs)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(refused) > 0 {
			if err := s.deadLetter(ctx, cl, refused); err != nil {
				return err
			}
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("commit offsets of group %s: %w", s.group(), err)
		}
		s.w.counted(0, int64(len(recs)-len(refused)), int64(len(refused)))
		if len(refused) < len(recs) || !s.w.isFailed() {
			s.w.ok(ctx)
		}
	}
}

// deadLetter sends refused records to the dead-letter topic with
// Connect's error headers, or fails when errors are not tolerated.
func (s *sink) deadLetter(ctx context.Context, cl *kgo.Client, refused []rejected) error {
	first := refused[0]
	if !s.errs.Tolerate {
		return fmt.Errorf("the destination refused the record at %s/%d offset %d (errors.tolerance=none): %w",
			first.rec.Topic, first.rec.Partition, first.rec.Offset, first.err)
	}
	if err := ensureTopic(ctx, cl, s.errs.DLQTopic); err != nil {
		return err
	}
	out := make([]*kgo.Record, len(refused))
	for i, r := range refused {
		out[i] = &kgo.Record{Topic: s.errs.DLQTopic, Key: r.rec.Key, Value: r.rec.Value, Headers: append(r.rec.Headers[:len(r.rec.Headers):len(r.rec.Headers)],
			kgo.RecordHeader{Key: "__connect.errors.topic", Value: []byte(r.rec.Topic)},
			kgo.RecordHeader{Key: "__connect.errors.partition", Value: []byte(strconv.Itoa(int(r.rec.Partition)))},
			kgo.RecordHeader{Key: "__connect.errors.offset", Value: []byte(strconv.FormatInt(r.rec.Offset, 10))},
			kgo.RecordHeader{Key: "__connect.errors.connector.name", Value: []byte(s.w.spec.Connector.Name)},
			kgo.RecordHeader{Key: "__connect.errors.exception.message", Value: []byte(r.err.Error())},
		)}
	}
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("write to the dead-letter topic %s: %w", s.errs.DLQTopic, err)
	}
	s.w.noted(ctx, fmt.Errorf("%d record(s) sent to dead-letter topic %s: %w", len(refused), s.errs.DLQTopic, first.err))
	return nil
}

// short cuts s to n bytes for an error message.
func short(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
