// Class names of the well-known datasets, in label order.
import Foundation

/// Class names of the datasets the importers know, in label order.
public enum ClassNames {
    /// MNIST: the digits `0`...`9`.
    public static let mnist = (0...9).map(String.init)
    /// Fashion-MNIST's ten clothing classes.
    public static let fashionMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// Kuzushiji-MNIST: the ten hiragana, romanised.
    public static let kmnist = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    /// CIFAR-10's ten classes.
    public static let cifar10 = ["airplane", "automobile", "bird", "cat", "deer",
                                 "dog", "frog", "horse", "ship", "truck"]

    /// A known list by name (`mnist`, `fashion-mnist`, `kmnist`, `cifar10`), or a
    /// comma-separated list of names.
    public static func named(_ text: String) -> [String] {
        switch text.lowercased() {
        case "mnist": mnist
        case "fashion-mnist", "fashion_mnist", "fashionmnist": fashionMNIST
        case "kmnist": kmnist
        case "cifar10", "cifar-10": cifar10
        default: text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }
}
