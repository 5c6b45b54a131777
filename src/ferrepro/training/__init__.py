"""Training: one LightningModule and one LightningDataModule shared by every paper."""
