"""The train/test overlap check: runs of words shared between training and evaluation problems."""

from socratic_distill.data.contamination import check_overlap, ngrams, sharing_ids, words
from socratic_distill.schemas import Problem

TEST = Problem(id="t1", answer="5", question="Tom had 12 red apples in a basket; he gave 7 of "
               "them to Mia. How many apples are left?")


def train(i, question):
    return Problem(id=f"p{i}", answer="1", question=question)


def test_words_ignore_case_and_punctuation():
    assert words("Tom's 12 RED-apples, he_said.") == ["tom", "s", "12", "red", "apples", "he", "said"]
    assert ngrams("a b c", 8) == {("a", "b", "c")}  # shorter than the run: one gram
    assert len(ngrams(TEST.question, 8)) == len(words(TEST.question)) - 7


def test_eight_shared_words_count_and_seven_do_not():
    copied = train(1, "TOM HAD 12 red apples in a BASKET! Then what?")  # 8 words, other case
    seven = train(2, "Tom had 12 red apples in a box. How many are green?")  # 7 in a row
    other = train(3, "A train leaves at noon and travels for 3 hours at 40 miles per hour.")
    assert sharing_ids([copied, seven, other], [TEST]) == ["p1"]
    assert sharing_ids([seven], [TEST], n=7) == ["p2"]
    short = train(4, "How many apples are left?")
    assert sharing_ids([short], [train(9, "how many apples are LEFT")]) == ["p4"]


def test_the_records_count_per_split():
    records, ids = check_overlap([train(1, TEST.question), train(2, "Nothing alike here.")],
                                 {"x:test": [TEST], "x:dev": [train(8, "Nope.")]}, drop=True)
    assert [(r.against, r.sharing, r.train_problems, r.dropped) for r in records] == [
        ("x:test", 1, 2, True), ("x:dev", 0, 2, True)]
    assert ids == {"x:test": ["p1"], "x:dev": []}


def test_gsm8k_overlap_is_real_shared_text(shared_data):
    from socratic_distill.data.registry import load_problems

    train_set = load_problems("gsm8k:train", limit=1500, data_dir=shared_data)
    test_set = load_problems("gsm8k:test", data_dir=shared_data)
    found = set(sharing_ids(train_set, test_set))
    assert 0 < len(found) < 0.1 * len(train_set)
    test_text = [" ".join(words(p.question)) for p in test_set]
    checked = train_set[:150]
    assert found & {p.id for p in checked}  # the brute force below sees both outcomes
    for problem in checked:
        tokens = words(problem.question)
        runs = {" ".join(tokens[i:i + 8]) for i in range(len(tokens) - 7)}
        # brute force: some run of 8 words of it is a substring of a test question's words
        shared = any(f" {run} " in f" {text} " for run in runs for text in test_text)
        assert shared == (problem.id in found), problem.id
