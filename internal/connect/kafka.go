package connect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// openKafka makes a client and checks that a broker answers.
func openKafka(ctx context.Context, opts []kgo.Opt, extra ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reach the cluster's Kafka brokers: %w", err)
	}
	return cl, nil
}

// ensureTopic creates topic with the brokers' defaults unless it exists.
func ensureTopic(ctx context.Context, cl *kgo.Client, topic string) error {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, -1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// caughtUp reports whether group has committed every record of topics.
func caughtUp(ctx context.Context, cl *kgo.Client, group string, topics []string) (bool, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return // a topic not created yet has nothing to deliver
		}
		c, has := committed.Lookup(o.Topic, o.Partition)
		if (has && c.At < o.Offset) || (!has && o.Offset > 0) {
			ok = false
		}
	})
	return ok, nil
}
