//! The channel table: ids, history bounds, replays and what they say of
//! lost events, the channel bound, and freeing.

use super::*;

const LIMITS: Limits = Limits { max_channels: 3, history: 3, history_bytes: 1 << 20 };

fn text(b: &[Rc<[u8]>]) -> Vec<String> {
    b.iter().map(|e| String::from_utf8(e.to_vec()).unwrap()).collect()
}

#[test]
fn ids_count_up_and_the_history_keeps_the_last_events() {
    let mut c = Channels::new(LIMITS);
    let ids: Vec<String> = (1..=5).map(|i| c.publish(b"news", None, &format!("n{i}")).unwrap()).collect();
    let epoch = ids[0].split('-').next().unwrap().to_string();
    assert_eq!(ids, (1..=5).map(|i| format!("{epoch}-{i}")).collect::<Vec<_>>());
    assert_eq!(c.published, 5);
    // Nobody listens: nothing waits to be written.
    assert!(!c.has_outbox());
    // A resume from 4: only 5, nothing lost.
    let s = c.subscribe(b"news", Some(format!("{epoch}-4").as_bytes()), Token(1)).unwrap();
    assert_eq!(text(&s.backlog), [format!("id: {epoch}-5\ndata: n5\n\n")]);
    assert_eq!(s.after.as_deref(), Some(format!("{epoch}-4").as_str()));
    // A resume from 1: 2 was dropped from a history of 3.
    let s = c.subscribe(b"news", Some(format!("{epoch}-1").as_bytes()), Token(2)).unwrap();
    let lost = format!("event: lost\ndata: {{\"lost\":1,\"after\":\"{epoch}-2\"}}\n\n");
    assert_eq!(text(&s.backlog)[0], lost);
    assert_eq!(s.backlog.len(), 4);
    // From another run: everything held, the loss unknown.
    let s = c.subscribe(b"news", Some(b"12-40"), Token(3)).unwrap();
    assert!(text(&s.backlog)[0].contains("\"lost\":null"));
    assert_eq!(s.backlog.len(), 4);
    // Not an id: live only.
    let s = c.subscribe(b"news", Some(b"x"), Token(4)).unwrap();
    assert!(s.backlog.is_empty() && s.after.is_none());
    assert_eq!((c.lossy_resumes, c.replayed), (2, 7));
    assert_eq!(c.subscribers(), 4);
}

#[test]
fn subscribers_get_each_event_once_from_the_outbox() {
    let mut c = Channels::new(LIMITS);
    let a = c.subscribe(b"x", None, Token(7)).unwrap();
    c.subscribe(b"x", None, Token(8)).unwrap();
    c.publish(b"x", Some("alert"), "hi").unwrap();
    let mut to = Vec::new();
    let bytes = c.take_outbox(&mut to).unwrap();
    assert!(bytes.starts_with(b"event: alert\nid: "));
    to.sort();
    assert_eq!(to, [Token(7), Token(8)]);
    assert!(c.take_outbox(&mut to).is_none());
    // Events go out in the order they were published.
    c.publish(b"x", None, "1").unwrap();
    c.publish(b"x", None, "2").unwrap();
    assert!(c.take_outbox(&mut to).unwrap().ends_with(b"data: 1\n\n"));
    assert!(c.take_outbox(&mut to).unwrap().ends_with(b"data: 2\n\n"));
    c.unsubscribe(a.membership);
    c.publish(b"x", None, "again").unwrap();
    c.take_outbox(&mut to).unwrap();
    assert_eq!(to, [Token(8)]);
}

#[test]
fn the_bounds_hold_and_empty_channels_go() {
    let mut c = Channels::new(Limits { max_channels: 2, history: 2, history_bytes: 40 });
    c.publish(b"a", None, "1").unwrap();
    let s = c.subscribe(b"b", None, Token(1)).unwrap();
    assert_eq!(c.publish(b"c", None, "x"), Err(Full::Channels));
    assert!(matches!(c.subscribe(b"c", None, Token(2)), Err(Full::Channels)));
    // Bytes: events of about 20 bytes, 40 bytes of history at most.
    for i in 0..5 {
        c.publish(b"a", None, &format!("{i}")).unwrap();
    }
    assert!(c.history_bytes() <= 40, "{}", c.history_bytes());
    // A channel with no subscriber and no history is freed.
    c.unsubscribe(s.membership);
    assert_eq!(c.len(), 1);
    assert!(c.publish(b"c", None, "x").is_ok());
    // With no history at all, a channel lives only while it has subscribers,
    // and a channel made again has later ids than before.
    let mut c = Channels::new(Limits { max_channels: 2, history: 0, history_bytes: 1 << 20 });
    let first = c.publish(b"n", None, "x").unwrap();
    assert!(c.is_empty());
    let second = c.publish(b"n", None, "x").unwrap();
    let epoch = |id: &str| id.split('-').next().unwrap().parse::<u64>().unwrap();
    assert!(epoch(&second) > epoch(&first), "{first} then {second}");
}

#[test]
fn an_event_too_big_to_keep_leaves_no_silent_hole() {
    let mut c = Channels::new(Limits { max_channels: 3, history: 10, history_bytes: 200 });
    let _keep = c.subscribe(b"a", None, Token(1)).unwrap();
    let one = c.publish(b"a", None, "one").unwrap();
    c.publish(b"a", None, &"x".repeat(300)).unwrap();
    let three = c.publish(b"a", None, "three").unwrap();
    let epoch = one.split('-').next().unwrap();
    // From 1: 2 is not held, and the resume says so before 3.
    let s = c.subscribe(b"a", Some(one.as_bytes()), Token(2)).unwrap();
    let lost = format!("event: lost\ndata: {{\"lost\":1,\"after\":\"{epoch}-2\"}}\n\n");
    assert_eq!(text(&s.backlog), [lost, format!("id: {three}\ndata: three\n\n")]);
    assert_eq!(c.history_bytes(), format!("id: {three}\ndata: three\n\n").len());
}

#[test]
fn a_subscriber_gets_live_only_what_was_published_after_it_came() {
    let mut c = Channels::new(LIMITS);
    c.subscribe(b"r", None, Token(1)).unwrap();
    let first = c.publish(b"r", None, "first").unwrap();
    let mut to = Vec::new();
    c.take_outbox(&mut to).unwrap();
    // Published, then (before the loop writes it out) a resume from the
    // first: the second is in the replay, not sent live again.
    c.publish(b"r", None, "second").unwrap();
    let s = c.subscribe(b"r", Some(first.as_bytes()), Token(2)).unwrap();
    assert_eq!(s.backlog.len(), 1);
    // And a subscriber with no id that came meanwhile does not get it.
    c.subscribe(b"r", None, Token(3)).unwrap();
    c.take_outbox(&mut to).unwrap();
    assert_eq!(to, [Token(1)]);
    c.publish(b"r", None, "third").unwrap();
    c.take_outbox(&mut to).unwrap();
    to.sort();
    assert_eq!(to, [Token(1), Token(2), Token(3)]);
}

#[test]
fn an_event_for_a_channel_made_again_is_not_sent_to_the_new_one() {
    let mut c = Channels::new(Limits { max_channels: 3, history: 0, history_bytes: 1 << 20 });
    let s = c.subscribe(b"a", None, Token(1)).unwrap();
    c.publish(b"a", None, "for the first making").unwrap();
    // It leaves before the loop writes the event out: the channel goes,
    // and another takes its place in the table.
    c.unsubscribe(s.membership);
    assert!(c.is_empty());
    c.subscribe(b"b", None, Token(2)).unwrap();
    let mut to = Vec::new();
    c.take_outbox(&mut to).unwrap();
    assert!(to.is_empty(), "{to:?}");
}

#[test]
fn subscribers_leave_a_quarter_of_the_channels_to_publishers() {
    let mut c = Channels::new(Limits { max_channels: 8, history: 1, history_bytes: 1 << 20 });
    for i in 0..6 {
        c.subscribe(format!("s{i}").as_bytes(), None, Token(i)).unwrap();
    }
    assert!(matches!(c.subscribe(b"s6", None, Token(6)), Err(Full::Channels)));
    // A channel that exists takes subscribers all the same.
    c.subscribe(b"s0", None, Token(7)).unwrap();
    // Publishers have the last quarter.
    c.publish(b"p0", None, "x").unwrap();
    c.publish(b"p1", None, "x").unwrap();
    assert_eq!(c.publish(b"p2", None, "x"), Err(Full::Channels));
    assert_eq!(c.len(), 8);
}
