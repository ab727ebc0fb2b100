"""Carrier announcement classification (#17): a labelled set of Chinese carrier announcements synthesised
with espeak-ng (other rates and pitches than the templates, SIT in front of half, A-law, line noise) plus
negatives (people, an answering machine); the accuracy is printed and must be perfect on this set."""
from carrier_corpus import corpus, templates

from trunkline.dsp.announcements import AnnouncementClassifier


def test_classifier_accuracy_on_synthesised_announcements():
    clf = AnnouncementClassifier(templates())
    data = corpus()
    right, sits = 0, 0
    confusion = {}
    for i, (label, audio) in enumerate(data):
        v = clf.classify(audio)
        right += v.label == label
        confusion[(label, v.label)] = confusion.get((label, v.label), 0) + 1
        if label and i % 2:                      # odd variants carry a SIT in front
            sits += v.sit
    acc = right / len(data)
    print(f"carrier announcements: accuracy {acc:.3f} ({right}/{len(data)}), SIT found {sits}/8, "
          f"confusion {confusion}")
    assert acc == 1.0, confusion
    assert sits == 8
