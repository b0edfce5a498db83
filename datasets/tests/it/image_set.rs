//! ImageSet invariants, accessors, subsets.

use byzsgd_datasets::ImageSet;

#[test]
fn accessors_and_histogram() {
    let pixels: Vec<u8> = (0..3 * 2 * 2 * 2).collect();
    let set = ImageSet::new(pixels, vec![1, 0, 1], [2, 2, 2], 3).unwrap();
    assert_eq!((set.len(), set.image_len(), set.num_classes()), (3, 8, 3));
    assert_eq!(set.image(1), &[8, 9, 10, 11, 12, 13, 14, 15]);
    assert_eq!(set.label(2), 1);
    assert_eq!(set.class_histogram(), [1, 2, 0]);
    let sub = set.subset(&[2, 2, 0]);
    assert_eq!(sub.labels(), [1, 1, 1]);
    assert_eq!(sub.image(0), set.image(2));
    assert_eq!(sub.image(2), set.image(0));
    let mut joined = set.clone();
    joined.append(sub).unwrap();
    assert_eq!(joined.len(), 6);
    assert!(
        joined
            .append(ImageSet::new(vec![0], vec![0], [1, 1, 1], 3).unwrap())
            .is_err()
    );
}

#[test]
fn inconsistent_sets_are_refused() {
    assert!(ImageSet::new(vec![0; 7], vec![0, 0], [1, 2, 2], 1).is_err());
    assert!(ImageSet::new(vec![0; 8], vec![0, 1], [1, 2, 2], 1).is_err());
    assert!(ImageSet::new(vec![], vec![], [0, 2, 2], 1).is_err());
    assert!(ImageSet::new(vec![], vec![], [1, 2, 2], 0).is_err());
    assert!(
        ImageSet::new(vec![], vec![], [1, 2, 2], 10)
            .unwrap()
            .is_empty()
    );
}
